"""The API documentation page in a real browser: Swagger UI from static/vendor renders every operation of the
server's own OpenAPI document under the app's CSP (no inline script), and fits a phone's width."""
from services.openapi import spec
from tests.browser.test_login import log_in

# Every CSP violation the page reports, whatever a console message says about it.
RECORD_CSP = """window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => window.cspViolations.push(
  `${event.violatedDirective} ${event.blockedURI}`));"""


def open_docs(page, server):
    page.add_init_script(RECORD_CSP)
    log_in(page, server)
    page.wait_for_url("**/admin/dashboard")
    page.click("nav a:text-is('API')")
    page.wait_for_url("**/admin/api/docs")
    page.wait_for_selector("#api-docs[data-ready=true] .opblock")


def test_the_docs_page_renders_every_operation_without_csp_violations(page, live_server):
    open_docs(page, live_server)
    operations = sum(len(methods) for methods in spec.document()["paths"].values())
    assert page.locator("#api-docs .opblock").count() == operations
    assert page.locator("#api-docs .opblock-summary-path[data-path='/api/v1/annotations']").count() == 1
    page.click("#api-docs .opblock-post:has([data-path='/api/v1/annotations']) .opblock-summary-control")
    page.wait_for_selector("#api-docs .opblock.is-open .opblock-body")
    assert page.evaluate("window.cspViolations") == []
    assert page.console_errors == []


def test_the_docs_page_fits_a_phone(page, live_server):
    page.set_viewport_size({"width": 390, "height": 844})
    open_docs(page, live_server)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("window.cspViolations") == [] and page.console_errors == []


def test_anonymous_callers_get_a_401_not_the_page(page, live_server):
    response = page.goto(live_server.url + "/admin/api/docs")
    assert response.status == 401
