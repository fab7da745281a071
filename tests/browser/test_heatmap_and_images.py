"""The activity heatmap and chart images in Chromium, against a real server fed through the ingest API: the matrix
draws what was ingested, a pushed activity adds to its cell without a re-query, every chart card saves a PNG as
wide as its chart, and the dashboard fits a phone's width."""
import re
import struct
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.browser.test_dashboard import open_dashboard, wait_for_live
from tests.servers import LIVE_ADMIN, login_session, start_server

CHART_CARDS = ["chart-host", "chart-timeline", "chart-revenue", "chart-status", "chart-activity", "chart-heatmap"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TWO_DAYS_AGO = (datetime.now(UTC) - timedelta(days=2)).replace(minute=10, second=0, microsecond=0)

HEATMAP = """() => {
  const chart = window.Chart.getChart(document.querySelector("#chart-heatmap canvas"));
  const cells = chart.data.datasets[0].data;
  return {type: chart.config.type, cells: cells.length, nonZero: cells.filter((cell) => cell.v > 0).length,
          values: Object.fromEntries(cells.map((cell) => [`${cell.y} ${cell.x}`, cell.v]))};
}"""
CELL = """(key) => window.Chart.getChart(document.querySelector("#chart-heatmap canvas")).data.datasets[0].data
  .find((cell) => `${cell.y} ${cell.x}` === key).v"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("heatmap"), ADMIN_USERNAME=LIVE_ADMIN[0], ADMIN_PASSWORD=LIVE_ADMIN[1],
                          SYSTEM_SAMPLE_INTERVAL="0.5", LIVE_UPDATE_INTERVAL="0.5")
    admin = login_session(server)
    server.api_key = admin.post(server.url + "/admin/api/api-keys", json={"name": "browser"}, timeout=10).json()["key"]
    admin.close()
    post_activities(server, [TWO_DAYS_AGO] * 3 + [TWO_DAYS_AGO + timedelta(hours=5)])
    yield server
    server.stop()


def post_activities(server, moments):
    response = requests.post(server.url + "/api/v1/events", timeout=10, headers={"Authorization": f"Bearer {server.api_key}"},
                             json={"activities": [{"user_id": "u-heat", "action": "login", "timestamp": moment.isoformat()}
                                                  for moment in moments]})
    assert response.status_code == 202, response.text


def cell_key(moment):
    return f"{moment.strftime('%a')} {moment.hour:02d}"


def heatmap_reads(page):
    reads = []
    page.on("request", lambda request: "/analytics/activity-heatmap" in request.url and reads.append(request.url))
    return reads


def test_the_heatmap_draws_the_ingested_activity_and_counts_a_pushed_one_live(page, server):
    reads = heatmap_reads(page)
    open_dashboard(page, server)
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function("() => Number(document.getElementById('chart-heatmap').dataset.renders) > 0")
    heatmap = page.evaluate(HEATMAP)
    assert (heatmap["type"], heatmap["cells"]) == ("matrix", 168)
    assert heatmap["values"][cell_key(TWO_DAYS_AGO)] >= 3 and heatmap["nonZero"] >= 2
    assert heatmap["values"][cell_key(TWO_DAYS_AGO + timedelta(hours=5))] >= 1

    now = datetime.now(UTC)
    before = page.evaluate(CELL, cell_key(now))
    post_activities(server, [now])
    page.wait_for_function(f"(key) => ({CELL})(key) === {before + 1}", arg=cell_key(now), timeout=10000)
    assert len(reads) == 1, reads  # counted from the push, not read again
    assert page.console_errors == []


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("card", ["chart-heatmap", "chart-host"])
def test_save_png_downloads_the_chart_with_its_header(page, server, card, tmp_path):
    open_dashboard(page, server)
    page.wait_for_function("(id) => Number(document.getElementById(id).dataset.renders) > 0", arg=card)
    assert page.locator(".chart-card [data-save-png]").count() == page.locator(".chart-card").count() >= len(CHART_CARDS)
    assert all(page.locator(f"#{id} [data-save-png]").count() == 1 for id in CHART_CARDS)
    canvas = page.evaluate("(id) => { const c = document.querySelector(`#${id} canvas`); return [c.width, c.height]; }", card)

    with page.expect_download() as download:
        page.click(f"#{card} [data-save-png]")
    name = download.value.suggested_filename
    assert re.fullmatch(rf"{card.removeprefix('chart-')}-\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.png", name), name
    download.value.save_as(tmp_path / name)
    data = (tmp_path / name).read_bytes()
    width, height = png_size(data)
    assert width == canvas[0] and canvas[1] < height < canvas[1] + 100  # the chart under a header band
    assert len(data) > 5000
    assert page.console_errors == []


def test_at_phone_width_the_dashboard_does_not_scroll_sideways(page, server):
    page.set_viewport_size({"width": 390, "height": 844})
    open_dashboard(page, server)
    page.wait_for_function("() => Number(document.getElementById('chart-heatmap').dataset.renders) > 0")
    page.locator("#chart-heatmap").scroll_into_view_if_needed()
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")
    box = page.locator("#chart-heatmap [data-save-png]").bounding_box()
    assert box["x"] + box["width"] <= 390
    assert page.console_errors == []
