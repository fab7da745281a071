"""The live dashboard in a real browser against a real server fed by the demo traffic generator."""
import json
import re

import pytest

from tests.browser.test_login import log_in
from tests.servers import LIVE_ADMIN, ROOT, login_session, start_server

SCREENSHOT = ROOT / "docs" / "dashboard.png"

CHART_CARDS = ["chart-host", "chart-timeline", "chart-revenue", "chart-status", "chart-activity"]
TIME_CHARTS = ["chart-host", "chart-timeline"]
VIEWER = ("viewer-browser", "viewer-password-1")

CHART_STATE = """(ids) => Object.fromEntries(ids.map((id) => {
  const card = document.getElementById(id);
  const chart = window.Chart.getChart(card.querySelector("canvas"));
  return [id, {chart: Boolean(chart), points: Number(card.dataset.points), renders: Number(card.dataset.renders)}];
}))"""


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """One server for this module, with demo traffic and fast live updates so charts move within seconds."""
    server = start_server(tmp_path_factory.mktemp("dashboard"), DEMO="1", ADMIN_USERNAME=LIVE_ADMIN[0],
                          ADMIN_PASSWORD=LIVE_ADMIN[1], LIVE_UPDATE_INTERVAL="0.5", SYSTEM_SAMPLE_INTERVAL="0.5")
    session = login_session(server)
    created = session.post(server.url + "/admin/api/users", timeout=10,
                           json={"username": VIEWER[0], "password": VIEWER[1], "role": "viewer"})
    assert created.status_code == 201, created.text
    server.admin = session
    yield server
    server.stop()


def open_dashboard(page, server, credentials=LIVE_ADMIN):
    log_in(page, server, *credentials)
    page.wait_for_url("**/admin/dashboard")


def wait_for_live(page, text, timeout=15000):
    page.wait_for_function("(text) => document.querySelector('#connection [data-text]').textContent === text",
                           arg=text, timeout=timeout)


def wait_until_charts_move(page, before, ids=TIME_CHARTS, timeout=10000):
    """Wait until every chart in `ids` has drawn again with more points than in `before`."""
    page.wait_for_function(
        """([ids, before]) => ids.every((id) => {
             const card = document.getElementById(id);
             return Number(card.dataset.renders) > before[id].renders && Number(card.dataset.points) > 0;
           })""", arg=[ids, before], timeout=timeout)


def unexpected_errors(page):
    # With WebSocket blocked on purpose, chromium reports the failed attempt; anything else is a bug.
    return [text for text in page.console_errors if "WebSocket connection to" not in text]


def test_charts_draw_from_the_rest_snapshot_and_move_with_websocket_pushes(page, demo_server):
    open_dashboard(page, demo_server)
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function("() => Number(document.getElementById('chart-host').dataset.points) > 0")
    before = page.evaluate(CHART_STATE, CHART_CARDS)
    assert all(state["chart"] for state in before.values()), before
    assert sum(state["points"] > 0 for state in before.values()) >= 4, before
    wait_until_charts_move(page, before)
    after = page.evaluate(CHART_STATE, CHART_CARDS)
    assert after["chart-host"]["points"] > before["chart-host"]["points"]
    pushes = int(page.get_attribute("#dashboard", "data-pushes"))
    assert pushes > 0 and int(page.get_attribute("#dashboard", "data-last-seq")) > 0
    for kpi in ["revenue", "tpm", "success", "users", "cpu", "memory", "p95", "errors"]:
        assert page.inner_text(f"[data-kpi={kpi}] .kpi-value") != "—", kpi
    assert page.console_errors == []


class SocketTap:
    """Pass the page's Socket.IO WebSockets through to the server, recording frames per connection."""

    def __init__(self, page):
        self.connections = []
        page.route_web_socket("**/socket.io/**", self.route)

    def route(self, socket):
        server = socket.connect_to_server()
        connection = {"socket": socket, "sent": [], "received": []}
        socket.on_message(lambda message: (connection["sent"].append(message), server.send(message)))
        server.on_message(lambda message: (connection["received"].append(message), socket.send(message)))
        self.connections.append(connection)

    @staticmethod
    def events(frames):
        """Socket.IO event frames ('42/admin,["name", payload]') as (name, payload) pairs."""
        found = []
        for frame in frames:
            match = re.match(r"42/admin,(.*)", frame if isinstance(frame, str) else "", re.S)
            if match:
                name, *args = json.loads(match.group(1))
                found.append((name, args[0] if args else None))
        return found

    def pushes(self, index):
        return [(name, payload) for name, payload in self.events(self.connections[index]["received"])
                if isinstance(payload, dict) and "first_seq" in payload]


def test_reconnect_after_a_dropped_socket_resumes_without_gaps_or_duplicates(page, demo_server):
    tap = SocketTap(page)
    open_dashboard(page, demo_server)
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function("() => Number(document.getElementById('dashboard').dataset.pushes) > 3")
    applied = int(page.get_attribute("#dashboard", "data-last-seq"))
    tap.connections[0]["socket"].close()
    page.wait_for_function("() => document.getElementById('connection').dataset.state !== 'live'")
    # Frames still in flight when the socket closed may never have reached the page: the page's seq counts.
    sent_before = max(payload["seq"] for _, payload in tap.pushes(0))
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function(f"() => Number(document.getElementById('dashboard').dataset.lastSeq) > {sent_before + 5}")
    resumes = [payload for name, payload in tap.events(tap.connections[1]["sent"]) if name == "resume"]
    assert len(resumes) == 1 and applied <= resumes[0]["since"] <= sent_before, (resumes, applied, sent_before)
    since = resumes[0]["since"]
    pushes = [payload for _, payload in tap.pushes(1)]
    last_seqs = [payload["seq"] for payload in pushes]
    assert last_seqs == sorted(set(last_seqs)) and last_seqs[0] > since
    covered = sorted({seq for payload in pushes for seq in range(payload["first_seq"], payload["seq"] + 1)})
    assert covered == list(range(since + 1, last_seqs[-1] + 1))
    assert page.console_errors == []


def test_realtime_switch_stops_pushes_and_resumes_after_the_last_seq(page, demo_server):
    open_dashboard(page, demo_server)
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function("() => Number(document.getElementById('dashboard').dataset.lastSeq) > 0")
    page.uncheck("#realtime-toggle")
    wait_for_live(page, "Offline · paused")
    paused_seq = int(page.get_attribute("#dashboard", "data-last-seq"))
    page.wait_for_timeout(1500)
    assert int(page.get_attribute("#dashboard", "data-last-seq")) == paused_seq
    page.check("#realtime-toggle")
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function(f"() => Number(document.getElementById('dashboard').dataset.lastSeq) > {paused_seq}")
    assert page.console_errors == []


def test_falls_back_to_sse_when_websocket_is_blocked_and_keeps_moving(page, demo_server):
    page.route("**/socket.io/**", lambda route: route.abort())
    page.route_web_socket("**/socket.io/**", lambda socket: socket.close())
    open_dashboard(page, demo_server)
    wait_for_live(page, "Live · SSE")
    page.wait_for_function("() => Number(document.getElementById('chart-host').dataset.points) > 0")
    before = page.evaluate(CHART_STATE, CHART_CARDS)
    wait_until_charts_move(page, before)
    assert page.evaluate(CHART_STATE, CHART_CARDS)["chart-host"]["points"] > before["chart-host"]["points"]
    assert unexpected_errors(page) == []


def test_offline_while_both_transports_fail_then_reconnects_with_backoff(page, demo_server):
    blocked = {"on": True}

    def socket_route(socket):
        if blocked["on"]:
            socket.close()
        else:
            server = socket.connect_to_server()
            socket.on_message(server.send)
            server.on_message(socket.send)

    page.route_web_socket("**/socket.io/**", socket_route)
    page.route("**/admin/api/stream**", lambda route: route.abort() if blocked["on"] else route.continue_())
    open_dashboard(page, demo_server)
    wait_for_live(page, "Offline · reconnecting")
    assert page.get_attribute("#connection", "title").startswith("Next attempt in")
    blocked["on"] = False  # before the next attempt, which waits at least 250 ms
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function("() => Number(document.getElementById('dashboard').dataset.pushes) > 0")
    delays = page.evaluate("""async () => {
      const { backoffDelay } = await import("/static/js/dashboard/realtime.js");
      return [0, 1, 2, 3, 10].map((attempt) => [backoffDelay(attempt, () => 0), backoffDelay(attempt, () => 1)]);
    }""")
    assert delays == [[250, 500], [500, 1000], [1000, 2000], [2000, 4000], [15000, 30000]]
    expected = ("WebSocket connection to", "net::ERR_FAILED")
    assert [text for text in page.console_errors if not any(part in text for part in expected)] == []


def test_cache_clear_and_preload_call_the_api_and_update_the_stats(page, demo_server):
    open_dashboard(page, demo_server)
    page.wait_for_selector("#cache-panel tbody tr[data-namespace=revenue]")
    page.on("dialog", lambda dialog: dialog.accept())
    updates = int(page.get_attribute("#cache-panel", "data-updates"))
    with page.expect_response("**/admin/api/cache/clear") as cleared:
        page.click("#cache-panel [data-action=clear]")
    assert cleared.value.status == 200
    page.wait_for_function(f"() => Number(document.getElementById('cache-panel').dataset.updates) > {updates}")
    assert "Cleared all" in page.inner_text("#cache-panel [data-result]")
    assert "before" in page.inner_text("#cache-panel [data-result]")
    with page.expect_response("**/admin/api/cache/preload") as preloaded:
        page.click("#cache-panel [data-action=preload]")
    warmed = preloaded.value.json()["warmed"]
    page.wait_for_function("() => document.querySelector('#cache-panel [data-result]').textContent.includes('Preloaded')")
    assert int(page.get_attribute("#cache-panel", "data-size")) >= warmed > 0
    assert page.console_errors == []


def test_viewer_sees_cache_buttons_disabled(page, demo_server):
    open_dashboard(page, demo_server, VIEWER)
    page.wait_for_selector("#cache-panel tbody tr[data-namespace]")
    assert page.is_disabled("#cache-panel [data-action=clear]")
    assert page.is_disabled("#cache-panel [data-action=preload]")
    assert page.is_disabled("#cache-panel tbody button")
    assert page.console_errors == []


def test_notification_shows_a_toast_with_its_text_as_text(page, demo_server):
    open_dashboard(page, demo_server)
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function("() => Number(document.getElementById('dashboard').dataset.pushes) > 0")
    sent = demo_server.admin.post(demo_server.url + "/admin/api/notifications", timeout=10,
                                  json={"title": "<b>Deploy</b>", "message": "v2 is <i>out</i>", "level": "info"})
    assert sent.status_code == 201, sent.text
    toast = page.wait_for_selector(".toast")
    assert "<b>Deploy</b>" in toast.inner_text() and toast.query_selector("b") is None
    assert page.console_errors == []


def test_phone_width_needs_no_horizontal_scrolling(page, demo_server):
    page.set_viewport_size({"width": 390, "height": 844})
    open_dashboard(page, demo_server)
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function("() => Number(document.getElementById('chart-revenue').dataset.points) > 0")
    page.wait_for_selector("#performance-panel tbody tr")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.console_errors == []


def test_dark_mode_switch_and_screenshot_for_the_readme(page, demo_server):
    # The README shows the explorer too: a view pinned to the dashboard (the demo sends checkout.latency_ms by region).
    pinned = demo_server.admin.post(demo_server.url + "/admin/api/explorer/pins", timeout=10, json={
        "title": "p95 checkout.latency_ms by region · 1 hour",
        "view": {"name": "checkout.latency_ms", "agg": "p95", "group_by": "region"}})
    assert pinned.status_code == 201, pinned.text
    open_dashboard(page, demo_server)
    wait_for_live(page, "Live · WebSocket")
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.wait_for_function("() => Number(document.getElementById('chart-host').dataset.points) > 30")
    page.wait_for_function("() => !document.querySelector('#performance-panel tbody').textContent.includes('No requests')")
    page.wait_for_function("() => [...document.querySelectorAll('#pinned-charts [data-pin]')]"
                           ".every((card) => Number(card.dataset.points) > 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert page.console_errors == []
    demo_server.admin.delete(f"{demo_server.url}/admin/api/explorer/pins/{pinned.json()['pin']['id']}", timeout=10)
