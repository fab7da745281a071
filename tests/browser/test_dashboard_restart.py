"""A dashboard left open across a server restart (a deploy) keeps showing new pushes without a reload, over
WebSocket and over SSE: the new process's stream has a new epoch, the page is told to resync, reloads its
history panels once and takes the new numbering, although its seqs are below those it saw before."""
import pytest
import requests

from tests.browser.test_dashboard import open_dashboard, unexpected_errors, wait_for_live
from tests.e2e.test_ingest_server import create_api_key
from tests.e2e.test_restart import restart
from tests.servers import LIVE_ADMIN, start_server

# Every applied push's seq, in order, and whether the document is still the one the test opened.
WATCH_PUSHES = """() => {
  window.appliedSeqs = [];
  window.sameDocument = true;
  new MutationObserver(() => window.appliedSeqs.push(Number(document.getElementById("dashboard").dataset.lastSeq)))
    .observe(document.getElementById("dashboard"), { attributes: true, attributeFilter: ["data-pushes"] });
}"""
# What chromium logs while the server is down or going (requests refused, a stream or response cut), and
# for the Socket.IO requests the SSE test blocks; anything else is a bug.
DOWNTIME_ERRORS = ("net::ERR_CONNECTION_REFUSED", "net::ERR_FAILED", "net::ERR_EMPTY_RESPONSE",
                   "net::ERR_CONNECTION_RESET", "net::ERR_INCOMPLETE_CHUNKED_ENCODING")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A demo server (pushes every half second) that the tests restart; the last one is stopped at the end."""
    server = start_server(tmp_path_factory.mktemp("browser-restart"), DEMO="1", ADMIN_USERNAME=LIVE_ADMIN[0],
                          ADMIN_PASSWORD=LIVE_ADMIN[1], LIVE_UPDATE_INTERVAL="0.5", SYSTEM_SAMPLE_INTERVAL="0.5",
                          INGEST_RATE_LIMIT="10000 per second")
    deployed = {"server": server, "api_key": create_api_key(server)}
    yield deployed
    deployed["server"].stop()


def run_the_seq_up(deployment, pushes: int = 300) -> None:
    """Many small pushes, so the old stream's seq is far above anything the new one reaches during the test."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {deployment['api_key']}"
        for n in range(pushes):
            answer = session.post(deployment["server"].url + "/api/v1/events", timeout=10,
                                  json={"metrics": [{"name": "restart.test", "value": n}]})
            assert answer.status_code == 202, answer.text


def dashboard_state(page) -> dict:
    return page.evaluate("""() => ({
      pushes: Number(document.getElementById("dashboard").dataset.pushes ?? 0),
      lastSeq: Number(document.getElementById("dashboard").dataset.lastSeq ?? 0),
      resyncs: Number(document.getElementById("dashboard").dataset.resyncs ?? 0),
      hostPoints: Number(document.getElementById("chart-host").dataset.points),
      sameDocument: window.sameDocument === true,
    })""")


def keeps_updating_across_a_restart(page, deployment, transport: str) -> None:
    host_loads = []
    page.on("request", lambda request: "/admin/api/metrics/host" in request.url and host_loads.append(request.url))
    open_dashboard(page, deployment["server"])
    wait_for_live(page, f"Live · {transport}")
    page.evaluate(WATCH_PUSHES)
    run_the_seq_up(deployment)
    page.wait_for_function("() => window.appliedSeqs.length > 5")
    before = dashboard_state(page)
    loads_before, applied_before = len(host_loads), page.evaluate("window.appliedSeqs.length")

    deployment["server"] = restart(deployment["server"])
    wait_for_live(page, f"Live · {transport}", timeout=30000)
    # Ten pushes applied from the new stream, all numbered below what the page saw before: the old client
    # took them for seen and applied none.
    page.wait_for_function("""([old, start]) => window.appliedSeqs.slice(start).filter((seq) => seq < old).length >= 10""",
                           arg=[before["lastSeq"], applied_before], timeout=20000)
    after = dashboard_state(page)
    assert after["sameDocument"] and after["pushes"] >= before["pushes"] + 10
    assert after["resyncs"] == before["resyncs"] + 1 and len(host_loads) == loads_before + 1, host_loads
    page.wait_for_function("(points) => Number(document.getElementById('chart-host').dataset.points) > points",
                           arg=after["hostPoints"])
    assert page.inner_text("#connection [data-text]") == f"Live · {transport}"
    assert [text for text in unexpected_errors(page) if not any(part in text for part in DOWNTIME_ERRORS)] == []


def test_an_open_dashboard_keeps_updating_across_a_restart_over_websocket(page, deployment):
    keeps_updating_across_a_restart(page, deployment, "WebSocket")


def test_an_open_dashboard_keeps_updating_across_a_restart_over_sse(page, deployment):
    page.route("**/socket.io/**", lambda route: route.abort())
    page.route_web_socket("**/socket.io/**", lambda socket: socket.close())
    keeps_updating_across_a_restart(page, deployment, "SSE")
