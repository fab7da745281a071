"""The dashboard's alerts in a real browser against a real server: the alerts panel, acknowledgement, the viewer's
disabled buttons and firing bands on the time charts."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from database import Alert, AlertRule, AlertTransition, create_database_engine
from services.alerts.alerts import fingerprint
from tests.browser.test_dashboard import VIEWER, open_dashboard, wait_for_live
from tests.servers import LIVE_ADMIN, login_session, start_server


@pytest.fixture(scope="module")
def alert_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("dashboard-alerts"), ADMIN_USERNAME=LIVE_ADMIN[0],
                          ADMIN_PASSWORD=LIVE_ADMIN[1], SYSTEM_SAMPLE_INTERVAL="0.5")
    session = login_session(server)
    created = session.post(server.url + "/admin/api/users", timeout=10,
                           json={"username": VIEWER[0], "password": VIEWER[1], "role": "viewer"})
    assert created.status_code == 201, created.text
    server.admin = session
    server.engine = create_database_engine(server.env["DATABASE_URL"])
    yield server
    server.engine.dispose()
    server.stop()


def add_firing_alert(server, name: str, minutes_ago: float = 5) -> int:
    """A host rule and one of its instances firing since `minutes_ago`, written to the server's database."""
    fired = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    labels = {"alertname": name, "severity": "critical", "host": "web-1"}
    with Session(server.engine) as session:
        rule = AlertRule(name=name, source="host", metric="cpu", comparator=">", threshold=90.0, severity="critical")
        session.add(rule)
        session.flush()
        alert = Alert(rule_id=rule.id, rule_name=name, fingerprint=fingerprint(labels), state="firing",
                      severity="critical", labels=labels, value=97.5, threshold=90.0, message="CPU at 97.5 %",
                      started_at=fired, state_since=fired, fired_at=fired)
        session.add(alert)
        session.flush()
        session.add(AlertTransition(alert_id=alert.id, at=fired, from_state="pending", to_state="firing", value=97.5))
        session.commit()
        return alert.id


def alert_item(page, alert_id: int):
    return page.wait_for_selector(f"#alerts-panel li[data-alert-id='{alert_id}']")


def test_firing_alert_is_listed_banded_and_acknowledged_from_the_panel(page, alert_server):
    alert_id = add_firing_alert(alert_server, "CPU high (browser)")
    open_dashboard(page, alert_server)
    item = alert_item(page, alert_id)
    assert item.get_attribute("data-state") == "firing"
    text = item.inner_text()
    assert "CPU high (browser)" in text and "host=web-1" in text and "value 97.5 · threshold 90" in text
    page.wait_for_function("() => document.getElementById('chart-host').dataset.bands === '1'")
    assert page.get_attribute("#chart-timeline", "data-bands") == "0"

    with page.expect_response(f"**/admin/api/alerts/{alert_id}/ack") as acked:
        item.query_selector("button[data-action=ack]").click()
    assert acked.value.status == 200
    page.wait_for_selector(f"#alerts-panel li[data-alert-id='{alert_id}'] .mark-ack")
    item = alert_item(page, alert_id)
    assert "Acknowledged by admin" in item.inner_text()
    assert item.query_selector("button[data-action=ack]") is None
    assert page.console_errors == []


def test_an_alert_push_updates_the_panel_live(page, alert_server):
    open_dashboard(page, alert_server)
    wait_for_live(page, "Live · WebSocket")
    alert_id = add_firing_alert(alert_server, "CPU high (pushed)", minutes_ago=1)
    # Until the evaluation loop runs on the server, an acknowledgement is what pushes the instance.
    acked = alert_server.admin.post(f"{alert_server.url}/admin/api/alerts/{alert_id}/ack", timeout=10)
    assert acked.status_code == 200, acked.text
    item = alert_item(page, alert_id)
    assert "Acknowledged by admin" in item.inner_text() and item.get_attribute("data-state") == "firing"
    assert page.console_errors == []


def test_viewer_sees_the_alert_buttons_disabled(page, alert_server):
    alert_id = add_firing_alert(alert_server, "CPU high (viewer)")
    open_dashboard(page, alert_server, VIEWER)
    item = alert_item(page, alert_id)
    buttons = item.query_selector_all("button")
    assert [button.get_attribute("data-action") for button in buttons] == ["ack", "silence"]
    assert all(button.is_disabled() for button in buttons)
    assert page.console_errors == []
