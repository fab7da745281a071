"""The notifications page in a real browser: the list with its level and text filters, live on `notification`
pushes, the send form for admins (disabled for viewers), and a phone's width."""
import pytest

from tests.browser.test_login import log_in
from tests.servers import LIVE_ADMIN, login_session, start_server

VIEWER = ("viewer-notes", "viewer-password-1")
ITEMS = "#notification-list li"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("notifications"), ADMIN_USERNAME=LIVE_ADMIN[0],
                          ADMIN_PASSWORD=LIVE_ADMIN[1])
    server.admin = login_session(server)
    created = server.admin.post(server.url + "/admin/api/users", timeout=10,
                                json={"username": VIEWER[0], "password": VIEWER[1], "role": "viewer"})
    assert created.status_code == 201, created.text
    yield server
    server.admin.close()
    server.stop()


def send(server, title, message="", level="info"):
    response = server.admin.post(server.url + "/admin/api/notifications", timeout=10,
                                 json={"title": title, "message": message, "level": level})
    assert response.status_code == 201, response.text


def open_page(page, server, credentials=LIVE_ADMIN):
    log_in(page, server, *credentials)
    page.wait_for_url("**/admin/dashboard")
    page.click("nav a:text-is('Notifications')")
    page.wait_for_selector("#notifications-page[data-ready=true]")
    page.wait_for_function("() => document.querySelector('#connection [data-text]').textContent.startsWith('Live')")


def titles(page):
    return page.locator(f"{ITEMS} strong").all_inner_texts()


def test_admin_sends_from_the_form_and_filters_the_live_list(page, server):
    send(server, "Backup done", "nightly <b>backup</b>", "success")
    open_page(page, server)
    assert titles(page)[0] == "Backup done"
    assert page.locator(f"{ITEMS} b").count() == 0  # text stays text

    send(server, "Disk almost full", "db-1 at 91 %", "warning")  # from elsewhere: arrives by push
    page.wait_for_function("() => document.querySelector('#notification-list li strong').textContent === 'Disk almost full'")

    page.fill("#send-form [name=title]", "Deploy v2")
    page.fill("#send-form [name=message]", "api and web")
    page.select_option("#send-form [name=level]", "error")
    page.click("#send-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#notification-list li strong').textContent === 'Deploy v2'")
    # The push can arrive before the POST's answer, after which the form clears.
    page.wait_for_function("() => document.querySelector('#send-form [name=title]').value === ''")
    assert titles(page)[:3] == ["Deploy v2", "Disk almost full", "Backup done"]

    page.select_option("[data-filter=level]", "warning")
    assert titles(page) == ["Disk almost full"]
    page.select_option("[data-filter=level]", "")
    page.fill("[data-filter=text]", "NIGHTLY")
    assert titles(page) == ["Backup done"]
    page.fill("[data-filter=text]", "nothing like this")
    assert titles(page) == [] and page.is_visible("[data-empty]")
    assert page.console_errors == []


def test_viewer_reads_the_list_with_the_form_disabled(page, server):
    send(server, "For everyone")
    open_page(page, server, VIEWER)
    assert "For everyone" in titles(page)
    assert page.is_disabled("#send-form button[type=submit]") and page.is_disabled("#send-form [name=title]")
    send(server, "Pushed to the viewer")
    page.wait_for_function("() => document.querySelector('#notification-list li strong').textContent === 'Pushed to the viewer'")
    assert page.console_errors == []


def test_the_page_fits_a_phone(page, server):
    page.set_viewport_size({"width": 390, "height": 844})
    send(server, "A long title " + "x" * 150, "a message without spaces " + "y" * 400)
    open_page(page, server)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.console_errors == []
