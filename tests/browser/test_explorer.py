"""The metric explorer in a real browser against a real server: a custom metric pushed through the ingest API is
listed, drawn one line per tag value, grows live from `metric` pushes without re-reading, and its URL reproduces
the view; it fits a phone's width."""
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.browser.test_dashboard import wait_for_live
from tests.browser.test_login import log_in
from tests.servers import LIVE_ADMIN, login_session, start_server

METRIC = "browser.checkout_ms"
VIEWER = ("viewer-explorer", "viewer-password-1")
# Per line of the chart: its label, points and the sum of their values (counts, with agg=count).
LINES = """() => {
  const chart = window.Chart.getChart(document.querySelector("#explorer-chart canvas"));
  return Object.fromEntries(chart.data.datasets.map((dataset) => [dataset.label,
    {points: dataset.data.length, total: dataset.data.reduce((sum, point) => sum + point.y, 0)}]));
}"""


@pytest.fixture(scope="module")
def explorer_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("explorer"), ADMIN_USERNAME=LIVE_ADMIN[0], ADMIN_PASSWORD=LIVE_ADMIN[1],
                          INGEST_RATE_LIMIT="10000 per second")
    admin = login_session(server)
    server.api_key = admin.post(server.url + "/admin/api/api-keys", json={"name": "explorer"}, timeout=10).json()["key"]
    created = admin.post(server.url + "/admin/api/users", timeout=10,
                         json={"username": VIEWER[0], "password": VIEWER[1], "role": "viewer"})
    assert created.status_code == 201, created.text
    server.admin = admin
    yield server
    admin.close()
    server.stop()


def push(server, *points):
    """Push (value, region, seconds ago) points of METRIC through the ingest API."""
    now = datetime.now(UTC)
    metrics = [{"name": METRIC, "value": value, "tags": {"region": region},
                "timestamp": (now - timedelta(seconds=ago)).isoformat()} for value, region, ago in points]
    response = requests.post(server.url + "/api/v1/events", json={"metrics": metrics}, timeout=10,
                             headers={"Authorization": f"Bearer {server.api_key}"})
    assert response.status_code == 202 and response.json()["accepted"] == len(points), response.text


def wait_for_lines(page, expected: dict, timeout=10000):
    """Wait until the chart's lines have these totals ({label: total})."""
    page.wait_for_function(f"""(expected) => {{
        const lines = ({LINES})();
        return Object.keys(lines).length === Object.keys(expected).length
          && Object.entries(expected).every(([label, total]) => lines[label]?.total === total);
      }}""", arg=expected, timeout=timeout)


def test_explorer_lists_draws_per_tag_grows_live_and_its_url_reproduces_the_view(page, explorer_server):
    push(explorer_server, (120, "eu", 0), (80, "eu", 0), (200, "us", 0))
    series_reads = []
    page.on("request", lambda request: "/admin/api/explorer/series" in request.url and series_reads.append(request.url))
    log_in(page, explorer_server)
    page.wait_for_url("**/admin/dashboard")
    page.click("nav a:text-is('Explorer')")
    page.wait_for_url("**/admin/explorer**")
    assert page.locator("select[name=name] option").evaluate_all("(options) => options.map((o) => o.value)") == [METRIC]

    page.select_option("select[name=agg]", "count")
    page.select_option("select[name=minutes]", "15")
    page.select_option("select[name=group_by]", "region")
    wait_for_lines(page, {"eu": 2, "us": 1})
    assert "group_by=region" in page.url and "agg=count" in page.url and f"name={METRIC}" in page.url
    colours = page.evaluate("""() => window.Chart.getChart(document.querySelector("#explorer-chart canvas"))
                                 .data.datasets.map((dataset) => dataset.borderColor)""")
    assert len(set(colours)) == len(colours) == 2, colours  # a colour per line
    wait_for_live(page, "Live · WebSocket")

    # New points fold into the chart: the current bucket grows, a new tag value gets its line, and a point in an
    # earlier, empty minute adds a point; none of it reads the series again (but for a bucket rolling over).
    reads_before = len(series_reads)
    points_before = page.evaluate(LINES)["eu"]["points"]
    push(explorer_server, (90, "eu", 0))
    push(explorer_server, (95, "us", 0), (99, "ap", 0))
    push(explorer_server, (70, "eu", 6 * 60))
    wait_for_lines(page, {"eu": 4, "us": 2, "ap": 1})
    assert page.evaluate(LINES)["eu"]["points"] == points_before + 1
    assert page.evaluate("document.getElementById('explorer-chart').dataset.folded") == "4"
    assert len(series_reads) - reads_before <= 1  # at most the one read a minute rolling over makes

    url = page.url
    page.goto("about:blank")
    page.goto(url)
    wait_for_lines(page, {"eu": 4, "us": 2, "ap": 1})  # read afresh from the server, equal to what pushes drew
    assert page.input_value("select[name=group_by]") == "region" and page.input_value("select[name=agg]") == "count"
    assert page.input_value("select[name=minutes]") == "15"
    assert page.console_errors == []


def test_filters_narrow_the_chart_and_live_points_that_do_not_match_stay_out(page, explorer_server):
    push(explorer_server, (10, "eu", 0), (20, "us", 0))
    log_in(page, explorer_server)
    page.wait_for_url("**/admin/dashboard")
    page.goto(f"{explorer_server.url}/admin/explorer?name={METRIC}&agg=count&minutes=15")
    page.click("[data-add-filter]")
    page.select_option("[data-filter-key]", "region")
    page.select_option("[data-filter-value]", "us")
    page.wait_for_function("() => decodeURIComponent(location.search).includes('\"region\":\"us\"')")
    wait_for_live(page, "Live · WebSocket")
    total = page.evaluate(LINES)[METRIC]["total"]
    push(explorer_server, (1, "eu", 0), (2, "us", 0))
    wait_for_lines(page, {METRIC: total + 1})
    assert page.console_errors == []


def test_beyond_eight_tag_values_the_rest_is_one_other_line_and_new_values_fold_into_it(page, explorer_server):
    now = datetime.now(UTC).isoformat()
    hosts = [{"name": "browser.hosts", "value": 1, "tags": {"host": f"h{n}"}, "timestamp": now}
             for n in range(10) for _ in range(10 - n)]  # h0 has the most points, h8 and h9 the fewest
    response = requests.post(explorer_server.url + "/api/v1/events", json={"metrics": hosts}, timeout=10,
                             headers={"Authorization": f"Bearer {explorer_server.api_key}"})
    assert response.status_code == 202, response.text
    log_in(page, explorer_server)
    page.wait_for_url("**/admin/dashboard")
    page.goto(f"{explorer_server.url}/admin/explorer?name=browser.hosts&agg=count&minutes=15&group_by=host")
    expected = {f"h{n}": 10 - n for n in range(8)} | {"other": 2 + 1}
    wait_for_lines(page, expected)
    wait_for_live(page, "Live · WebSocket")
    response = requests.post(explorer_server.url + "/api/v1/events", timeout=10,
                             headers={"Authorization": f"Bearer {explorer_server.api_key}"},
                             json={"metrics": [{"name": "browser.hosts", "value": 1, "tags": {"host": "h-new"}}]})
    assert response.status_code == 202, response.text
    wait_for_lines(page, expected | {"other": 4})
    assert page.console_errors == []


def test_over_sse_the_explorer_asks_for_the_metric_channel_and_folds_its_points(page, explorer_server):
    page.route("**/socket.io/**", lambda route: route.abort())
    page.route_web_socket("**/socket.io/**", lambda socket: socket.close())
    push(explorer_server, (1, "sse", 0))
    log_in(page, explorer_server)
    page.wait_for_url("**/admin/dashboard")
    page.goto(f"{explorer_server.url}/admin/explorer?name={METRIC}&agg=sum&minutes=15&filters=%7B%22region%22%3A%22sse%22%7D")
    wait_for_live(page, "Live · SSE")
    wait_for_lines(page, {METRIC: 1})
    push(explorer_server, (41, "sse", 0))
    wait_for_lines(page, {METRIC: 42})
    assert [text for text in page.console_errors if "WebSocket connection to" not in text] == []


def test_phone_width_needs_no_horizontal_scrolling(page, explorer_server):
    push(explorer_server, (5, "eu", 0))
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, explorer_server)
    page.wait_for_url("**/admin/dashboard")
    page.goto(f"{explorer_server.url}/admin/explorer?name={METRIC}&group_by=region&filters=%7B%22region%22%3A%22eu%22%7D")
    page.wait_for_function("() => Number(document.getElementById('explorer-chart').dataset.points) > 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.console_errors == []


PINNED = """() => [...document.querySelectorAll("#pinned-charts [data-pin]")].map((card) => {
  const chart = window.Chart.getChart(card.querySelector("canvas"));
  return {title: card.querySelector("h3").textContent, folded: Number(card.dataset.folded),
          lines: Object.fromEntries(chart.data.datasets.map((dataset) => [dataset.label,
            dataset.data.reduce((sum, point) => sum + point.y, 0)]))};
})"""


def test_a_viewer_pins_a_view_that_the_dashboard_draws_live_and_unpins_it(page, explorer_server):
    push(explorer_server, (1, "eu", 0), (2, "us", 0))
    log_in(page, explorer_server, *VIEWER)
    page.wait_for_url("**/admin/dashboard")
    assert page.is_hidden("#pinned-charts")
    page.goto(f"{explorer_server.url}/admin/explorer?name={METRIC}&agg=count&minutes=15&group_by=region")
    page.wait_for_function("() => Number(document.getElementById('explorer-chart').dataset.points) > 0")
    page.click("[data-pin]")
    page.wait_for_selector("#explorer-chart [data-summary]:text('Pinned')")

    page.click("nav a:text-is('Dashboard')")
    page.wait_for_url("**/admin/dashboard")
    page.wait_for_selector("#pinned-charts [data-pin] canvas")
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function(f"() => Object.keys(({PINNED})()[0].lines).length >= 2")
    [before] = page.evaluate(PINNED)
    assert before["title"] == f"count {METRIC} by region · 15 min"
    push(explorer_server, (3, "eu", 0), (4, "eu", 0))
    page.wait_for_function(f"(eu) => ({PINNED})()[0].lines.eu === eu", arg=before["lines"]["eu"] + 2)
    assert page.evaluate(PINNED)[0]["folded"] == 2

    page.click("#pinned-charts [data-pin] button:text-is('Unpin')")
    page.wait_for_selector("#pinned-charts", state="hidden")
    with page.expect_response("**/admin/api/explorer/pins") as listed:
        page.reload()
    assert listed.value.json() == {"pins": []}
    assert page.is_hidden("#pinned-charts")
    assert page.console_errors == []
