"""The dashboard's alerts in a real browser against a real server running the evaluation loop: rules on a custom
metric fed through the ingest API fire live into the alerts panel with a toast, are acknowledged from it, viewers
see its buttons disabled, and host and endpoint rules put firing bands on the time charts."""
import pytest
import requests

from tests.browser.test_dashboard import VIEWER, open_dashboard, wait_for_live
from tests.servers import LIVE_ADMIN, login_session, start_server


@pytest.fixture(scope="module")
def alert_server(tmp_path_factory):
    """A server evaluating rules twice a second, with no default rules (a busy machine's CPU would fire one)."""
    server = start_server(tmp_path_factory.mktemp("dashboard-alerts"), ADMIN_USERNAME=LIVE_ADMIN[0],
                          ADMIN_PASSWORD=LIVE_ADMIN[1], SYSTEM_SAMPLE_INTERVAL="0.5", ALERT_EVALUATION_INTERVAL="0.5",
                          INGEST_RATE_LIMIT="10000 per second")
    admin = login_session(server)
    for rule in admin.get(server.url + "/admin/api/alert-rules", timeout=10).json()["rules"]:
        assert admin.delete(f"{server.url}/admin/api/alert-rules/{rule['id']}", timeout=10).status_code == 204
    created = admin.post(server.url + "/admin/api/users", timeout=10,
                         json={"username": VIEWER[0], "password": VIEWER[1], "role": "viewer"})
    assert created.status_code == 201, created.text
    server.admin = admin
    server.api_key = admin.post(server.url + "/admin/api/api-keys", json={"name": "browser"}, timeout=10).json()["key"]
    yield server
    admin.close()
    server.stop()


def add_rule(server, name, **fields) -> dict:
    body = {"name": name, "source": "metric", "metric": "browser.queue", "aggregation": "max", "window_seconds": 60,
            "comparator": ">", "threshold": 100, "for_seconds": 0, "severity": "critical"} | fields
    response = server.admin.post(server.url + "/admin/api/alert-rules", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["rule"]


def push_metric(server, name, value, **tags):
    response = requests.post(server.url + "/api/v1/events", timeout=10, headers={"Authorization": f"Bearer {server.api_key}"},
                             json={"metrics": [{"name": name, "value": value, "tags": tags}]})
    assert response.status_code == 202, response.text


def alert_item(page, rule_name, state="firing"):
    return page.wait_for_selector(f"#alerts-panel li[data-state={state}]:has(strong:text-is('{rule_name}'))",
                                  timeout=15000)


def test_a_rule_that_fires_shows_live_with_a_toast_and_is_acknowledged_from_the_panel(page, alert_server):
    open_dashboard(page, alert_server)
    wait_for_live(page, "Live · WebSocket")
    add_rule(alert_server, "Queue deep (browser)", metric="browser.queue", group_by=["queue"])
    push_metric(alert_server, "browser.queue", 150, queue="orders")

    item = alert_item(page, "Queue deep (browser)")
    text = item.inner_text()
    assert "queue=orders" in text and "value 150 · threshold 100" in text and "firing since" in text
    toast = page.wait_for_selector(".toast:has(strong:text-is('Firing: Queue deep (browser)'))")
    assert "toast-error" in toast.get_attribute("class")
    # The alert push and the in-app notification that follows it make one toast, not two.
    page.wait_for_timeout(1500)
    assert page.locator(".toast strong:text-is('Firing: Queue deep (browser)')").count() == 1

    with page.expect_response("**/admin/api/alerts/*/ack") as acked:
        item.query_selector("button[data-action=ack]").click()
    assert acked.value.status == 200
    item = page.wait_for_selector("#alerts-panel li:has(strong:text-is('Queue deep (browser)')) .mark-ack")
    assert item.inner_text() == "Acknowledged by admin"
    assert page.locator("#alerts-panel li:has(strong:text-is('Queue deep (browser)')) [data-action=ack]").count() == 0
    assert page.console_errors == []


def test_viewer_sees_a_pushed_alert_with_its_buttons_disabled(page, alert_server):
    open_dashboard(page, alert_server, VIEWER)
    wait_for_live(page, "Live · WebSocket")
    add_rule(alert_server, "Jobs stuck (browser)", metric="browser.jobs")
    push_metric(alert_server, "browser.jobs", 500)
    buttons = alert_item(page, "Jobs stuck (browser)").query_selector_all("button")
    assert [button.get_attribute("data-action") for button in buttons] == ["ack", "silence"]
    assert all(button.is_disabled() for button in buttons)
    assert page.console_errors == []


def test_host_and_endpoint_rules_draw_firing_bands_that_close_when_they_resolve(page, alert_server):
    open_dashboard(page, alert_server)
    wait_for_live(page, "Live · WebSocket")
    host = add_rule(alert_server, "Host up (browser)", source="host", metric="cpu", aggregation="avg",
                    comparator=">=", threshold=0, severity="warning")
    endpoint = add_rule(alert_server, "Requests (browser)", source="endpoint", metric="rps", aggregation="avg",
                        comparator=">=", threshold=0, severity="info")
    open_bands = """(ids) => ids.map((id) => Number(document.getElementById(id).dataset.bandsOpen))"""
    page.wait_for_function(f"() => ({open_bands})(['chart-host', 'chart-timeline']).every((n) => n === 1)",
                           timeout=15000)

    for rule in (host, endpoint):
        disabled = alert_server.admin.patch(f"{alert_server.url}/admin/api/alert-rules/{rule['id']}",
                                            json={"enabled": False}, timeout=10)
        assert disabled.status_code == 200, disabled.text
    page.wait_for_function(f"() => ({open_bands})(['chart-host', 'chart-timeline']).every((n) => n === 0)")
    assert page.evaluate(f"({open_bands})(['chart-host', 'chart-timeline'])") == [0, 0]
    assert [page.get_attribute(f"#{card}", "data-bands") for card in ("chart-host", "chart-timeline")] == ["1", "1"]

    # Another range re-reads the periods from GET /admin/api/alerts/periods (a key no read cached yet) and draws
    # the same bands.
    with page.expect_response("**/admin/api/alerts/periods?minutes=60") as periods:
        page.select_option("#range", "60")
    charted = sorted((period["source"], period["rule_name"]) for period in periods.value.json()["periods"]
                     if period["source"] != "metric")
    assert charted == [("endpoint", "Requests (browser)"), ("host", "Host up (browser)")]
    page.wait_for_load_state("networkidle")
    page.evaluate("() => new Promise((drawn) => requestAnimationFrame(() => requestAnimationFrame(drawn)))")
    assert [page.get_attribute(f"#{card}", "data-bands") for card in ("chart-host", "chart-timeline")] == ["1", "1"]
    assert page.console_errors == []


def test_only_an_instance_that_starts_firing_unheard_makes_a_toast(page, alert_server):
    open_dashboard(page, alert_server)
    changes = page.evaluate("""async () => {
      const { firingChange, firingToast } = await import("/static/js/dashboard/panels.js");
      const moves = [["normal", "firing"], ["pending", "firing"], ["nodata", "firing"], ["firing", "firing"],
        ["recovering", "firing"], ["firing", "recovering"], ["recovering", "resolved"], ["firing", "nodata"],
        ["pending", "resolved"]];
      const base = { rule_name: "r", message: "m", severity: "warning" };
      return {
        changes: moves.map(([previous_state, state]) => firingChange({ ...base, previous_state, state })),
        toasts: [{}, { silenced: true }, { flapping: true }].map((flags) => firingToast({ ...base, ...flags })),
      };
    }""")
    assert changes["changes"] == ["start", "start", "start", None, None, None, "end", "end", None]
    assert changes["toasts"] == [{"title": "Firing: r", "message": "m", "level": "warning"}, None, None]
    assert page.console_errors == []
