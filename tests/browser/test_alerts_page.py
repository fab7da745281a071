"""The alerts page in a real browser against a real server: rules through the form (preview first), a firing
instance pushed live, opened from its link and silenced from its labels, receivers tested against a real webhook
endpoint, and the same page for a viewer with every write control disabled."""
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.test_login import log_in
from tests.servers import LIVE_ADMIN, login_session, start_server
from tests.webhook_receiver import WebhookReceiver

VIEWER = ("viewer-alerts", "viewer-password-1")
# The buttons a viewer may press: they only read.
READ_ONLY_BUTTONS = {"History", "Deliveries", "Refresh", "Close"}


@pytest.fixture(scope="module")
def alerts_server(tmp_path_factory):
    """A server evaluating rules every half second, with an admin session, an ingest key and a viewer."""
    server = start_server(tmp_path_factory.mktemp("alerts_page"), ADMIN_USERNAME=LIVE_ADMIN[0],
                          ADMIN_PASSWORD=LIVE_ADMIN[1], ALERT_EVALUATION_INTERVAL="0.5")
    server.admin = login_session(server)
    created = server.admin.post(server.url + "/admin/api/users", timeout=10,
                                json={"username": VIEWER[0], "password": VIEWER[1], "role": "viewer"})
    assert created.status_code == 201, created.text
    key = server.admin.post(server.url + "/admin/api/api-keys", json={"name": "alerts-page"}, timeout=10)
    assert key.status_code == 201, key.text
    server.ingest_key = key.json()["key"]
    yield server
    server.stop()


def api(server, method, path, **kwargs):
    response = server.admin.request(method, f"{server.url}/admin/api/{path}", timeout=10, **kwargs)
    assert response.status_code < 300, (method, path, response.status_code, response.text)
    return response.json() if response.content else None


def push_metric(server, name, value, **tags):
    response = server.admin.post(server.url + "/api/v1/events", timeout=10,
                                 headers={"Authorization": f"Bearer {server.ingest_key}"},
                                 json={"metrics": [{"name": name, "value": value, "tags": tags}]})
    assert response.status_code == 202 and response.json()["accepted"] == 1, response.text


def open_alerts(page, server, credentials=LIVE_ADMIN, query=""):
    log_in(page, server, *credentials)
    page.wait_for_url("**/admin/dashboard")
    page.goto(f"{server.url}/admin/alerts{query}")
    page.wait_for_selector("#alerts-page[data-ready]")


def unexpected_errors(page):
    # Chromium logs every 4xx answer to fetch; the 422s the forms show beside a field are expected.
    return [text for text in page.console_errors if "status of 422" not in text]


def row(page, section, text):
    return page.locator(f"#{section} tbody tr", has_text=text)


def test_admin_previews_creates_disables_and_deletes_a_rule_through_the_form(page, alerts_server):
    push_metric(alerts_server, "page.queue_depth", 75, queue="emails")
    open_alerts(page, alerts_server)
    page.click("#rules [data-new]")
    form = page.locator("#rule-form")
    form.locator("[name=name]").fill("Queue too deep")
    assert form.locator("[name=source]").input_value() == "metric"
    form.locator("[data-metric-text]").fill("page.queue_depth")
    form.locator("[name=window_seconds]").fill("5m")
    form.locator("[name=group_by]").fill("queue")
    form.locator("[name=comparator]").select_option(">")
    form.locator("[name=threshold]").fill("50")
    form.locator("[name=recovery_threshold]").fill("60")
    form.locator("[data-rows=annotations] button", has_text="Add annotation").click()
    form.locator("[aria-label='annotation name']").fill("summary")
    form.locator("[aria-label='annotation value']").fill("queue {{ $labels.queue }} holds {{ $value }}")

    form.locator("[data-preview]").click()  # a recovery above a `>` threshold: the server names the field
    error = form.locator("[data-field=recovery_threshold] .field-error")
    error.wait_for()
    assert "recovery_threshold must be at most the threshold" in error.inner_text()
    assert form.locator("[name=recovery_threshold]").get_attribute("aria-invalid") == "true"

    form.locator("[name=recovery_threshold]").fill("40")
    form.locator("[data-preview]").click()
    preview = form.locator("[data-preview-result] tbody tr")
    preview.first.wait_for()
    assert "queue=emails" in preview.first.inner_text() and "75" in preview.first.inner_text()
    assert preview.first.locator(".state").inner_text() == "firing"
    assert form.locator(".field-error[data-for]").count() == 0

    form.locator("button[type=submit]").click()
    rule_row = row(page, "rules", "Queue too deep")
    rule_row.wait_for()
    assert form.is_hidden()
    assert "avg of page.queue_depth over 5m > 50, clears < 40" in rule_row.inner_text()
    rule = next(rule for rule in api(alerts_server, "GET", "alert-rules")["rules"] if rule["name"] == "Queue too deep")
    assert rule["annotations"] == {"summary": "queue {{ $labels.queue }} holds {{ $value }}"} and rule["group_by"] == ["queue"]

    rule_row.get_by_role("button", name="Edit").click()
    assert form.locator("[data-legend]").inner_text() == "Edit rule “Queue too deep”"
    assert form.locator("[name=window_seconds]").input_value() == "5m"
    assert form.locator("[aria-label='annotation name']").input_value() == "summary"
    form.locator("[name=threshold]").fill("55")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#rules tbody tr:has-text('> 55, clears < 40')")

    rule_row.get_by_role("switch").uncheck()
    page.wait_for_selector(f"#rules tr.disabled-rule[data-rule-id='{rule['id']}']")
    assert api(alerts_server, "GET", f"alert-rules/{rule['id']}")["rule"]["enabled"] is False

    page.once("dialog", lambda dialog: dialog.accept())
    row(page, "rules", "Queue too deep").get_by_role("button", name="Delete").click()
    page.wait_for_selector(f"#rules tr[data-rule-id='{rule['id']}']", state="detached")
    assert "Deleted rule" in page.inner_text("#rules [data-result]")
    assert unexpected_errors(page) == []


def wait_for_alert(server, rule_id, state, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [alert for alert in api(server, "GET", "alerts")["alerts"] if alert["rule_id"] == rule_id]
        if found and found[0]["state"] == state:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {state} alert for rule {rule_id} within {timeout} s")


def test_a_firing_instance_arrives_live_opens_from_its_link_and_is_silenced_from_its_labels(page, alerts_server):
    rule = api(alerts_server, "POST", "alert-rules", json={
        "name": "Disk almost full", "source": "metric", "metric": "page.disk_used", "group_by": ["mount"],
        "comparator": ">", "threshold": 90, "window_seconds": 60, "severity": "critical"})["rule"]
    open_alerts(page, alerts_server)
    push_metric(alerts_server, "page.disk_used", 97, mount="/data")
    instance = row(page, "instances", "Disk almost full")
    instance.locator(".state", has_text="firing").wait_for(timeout=15000)  # by an `alert` push: no reload
    assert "mount=/data" in instance.inner_text() and "97 / 90" in instance.inner_text()
    alert = wait_for_alert(alerts_server, rule["id"], "firing")

    instance.get_by_role("button", name="Ack").click()
    instance.locator(".mark-acknowledged", has_text="admin").wait_for()

    page.goto(f"{alerts_server.url}/admin/alerts?alert={alert['id']}")  # a webhook's generatorURL
    page.wait_for_selector("#alerts-page[data-ready]")
    detail = page.locator("#instances [data-detail]")
    assert detail.is_visible() and "Disk almost full · firing" in detail.locator("[data-title]").inner_text()
    assert detail.locator("[data-history] tbody tr .state", has_text="firing").count() >= 1

    row(page, "instances", "Disk almost full").get_by_role("button", name="Silence").click()
    form = page.locator("#silence-form")
    assert form.is_visible()
    matchers = [{"name": matcher.locator("[data-column=name]").input_value(),
                 "op": matcher.locator("[data-column=op]").input_value(),
                 "value": matcher.locator("[data-column=value]").input_value()}
                for matcher in form.locator(".rows-row").all()]
    assert matchers == [{"name": name, "op": "=", "value": value} for name, value in sorted(alert["labels"].items())]
    form.locator("[data-duration-choice='14400']").click()
    form.locator("button[type=submit]").click()  # no comment: the server names the field
    form.locator("[data-field=comment] .field-error").wait_for()
    form.locator("[name=comment]").fill("disk being replaced")
    form.locator("button[type=submit]").click()

    silence_row = row(page, "silences", "disk being replaced")
    silence_row.wait_for()
    assert silence_row.locator(".state").inner_text() == "active" and "mount=/data" in silence_row.inner_text()
    row(page, "instances", "Disk almost full").locator(".mark-silenced").wait_for()  # pushed when the silence began
    silence = api(alerts_server, "GET", "silences")["silences"][0]
    assert 4 * 3600 - 60 < (time_of(silence["ends_at"]) - time_of(silence["starts_at"])) <= 4 * 3600

    page.once("dialog", lambda dialog: dialog.accept())
    silence_row.get_by_role("button", name="Expire").click()
    silence_row.locator(".state", has_text="expired").wait_for()
    api(alerts_server, "DELETE", f"alert-rules/{rule['id']}")
    assert unexpected_errors(page) == []


def time_of(iso):
    return datetime.fromisoformat(iso).timestamp()


def in_an_hour():
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def test_admin_creates_a_receiver_and_sees_each_test_delivery_outcome(page, alerts_server):
    with WebhookReceiver(statuses=[200]) as good, WebhookReceiver(statuses=[400]) as refusing:
        open_alerts(page, alerts_server)
        form = page.locator("#receiver-form")
        page.click("#receivers [data-new]")
        form.locator("[name=name]").fill("ops hook")
        form.locator("[name=url]").fill("ftp://example.com/hook")
        form.locator("button[type=submit]").click()
        form.locator("[data-field=url] .field-error").wait_for()
        form.locator("[name=url]").fill(good.url)
        form.locator("[name=repeat_interval_seconds]").fill("4h")
        form.locator("button[type=submit]").click()
        receiver_row = row(page, "receivers", "ops hook")
        receiver_row.wait_for()
        assert "every 4h" in receiver_row.inner_text() and good.url in receiver_row.inner_text()

        receiver_row.get_by_role("button", name="Test").click()
        page.wait_for_function("() => document.querySelector('#receivers [data-result]').dataset.status === 'delivered'")
        assert "Test to ops hook: delivered after 1 attempt (HTTP 200)" in page.inner_text("#receivers [data-result]")
        assert good.wait_for(1)[0]["body"]["status"] == "firing"
        log = page.locator("#receivers [data-deliveries]")
        assert "Deliveries to ops hook" in log.locator("[data-title]").inner_text()
        log.locator("tbody tr[data-status=delivered]").wait_for()

        api(alerts_server, "POST", "receivers", json={"name": "refusing hook", "url": refusing.url, "format": "slack"})
        page.reload()
        page.wait_for_selector("#alerts-page[data-ready]")
        row(page, "receivers", "refusing hook").get_by_role("button", name="Test").click()
        page.wait_for_function("() => document.querySelector('#receivers [data-result]').dataset.status === 'dead'")
        assert "failed for good" in page.inner_text("#receivers [data-result]")
        dead = log.locator("tbody tr[data-status=dead]")
        dead.wait_for()
        assert "HTTP 400" in dead.inner_text()
        dead.get_by_role("button", name="Retry").click()  # sent again: the endpoint still refuses it
        refusing.wait_for(2)
        assert unexpected_errors(page) == []


def test_a_viewer_sees_the_page_with_every_write_control_disabled(page, alerts_server):
    rule = api(alerts_server, "POST", "alert-rules", json={
        "name": "Viewer sees this", "source": "host", "metric": "cpu", "comparator": ">", "threshold": 1000})["rule"]
    api(alerts_server, "POST", "silences", json={"matchers": [{"name": "alertname", "op": "=", "value": "Viewer sees this"}],
                                                  "ends_at": in_an_hour(), "comment": "viewer check"})
    open_alerts(page, alerts_server, VIEWER)
    page.wait_for_selector("#alerts-page .readonly-note")
    row(page, "rules", "Viewer sees this").wait_for()
    row(page, "silences", "viewer check").wait_for()
    assert page.locator(".nav a[aria-current=page]").inner_text() == "Alerts"

    enabled = page.eval_on_selector_all("#alerts-page button:not(:disabled)", "nodes => nodes.map((node) => node.textContent)")
    assert set(enabled) <= READ_ONLY_BUTTONS, enabled
    assert page.locator("#alerts-page [data-new]:disabled").count() == 3
    assert page.locator("#alerts-page form fieldset:disabled").count() == 3
    assert page.locator("#rules [role=switch]:disabled").count() == page.locator("#rules [role=switch]").count() > 0

    api(alerts_server, "DELETE", f"alert-rules/{rule['id']}")
    assert unexpected_errors(page) == []
