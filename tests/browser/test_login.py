"""Logging in through the form in a real browser, under the real CSP."""
from tests.servers import LIVE_ADMIN


def log_in(page, server, username=LIVE_ADMIN[0], password=LIVE_ADMIN[1]):
    page.goto(server.url + "/admin/dashboard")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_login_form_leads_to_the_dashboard(page, live_server):
    log_in(page, live_server)
    page.wait_for_url(live_server.url + "/admin/dashboard")
    assert page.locator("h1").first.inner_text() == "Dashboard"
    assert page.console_errors == []


def test_wrong_password_shows_one_generic_message(page, live_server):
    log_in(page, live_server, password="not-the-password")
    assert page.locator(".flash-error").inner_text() == "Invalid username or password."
    assert page.console_errors == []


def test_accounts_page_creates_a_key_shown_once(page, live_server):
    log_in(page, live_server)
    page.wait_for_url("**/admin/dashboard")
    page.goto(live_server.url + "/admin/accounts")
    page.fill("#key-form input[name=name]", "browser-key")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#new-key:not([hidden])")
    assert page.locator("#new-key code").inner_text().startswith("pb_")
    page.wait_for_selector("#keys-table td:text('browser-key')")
    assert page.console_errors == []


def test_logout_button_ends_the_session(page, live_server):
    log_in(page, live_server)
    page.wait_for_url("**/admin/dashboard")
    page.click("text=Log out")
    page.wait_for_url("**/login")
    page.goto(live_server.url + "/admin/dashboard")
    assert "/login?next=" in page.url
