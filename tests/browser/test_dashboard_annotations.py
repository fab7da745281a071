"""Annotations in a real browser: posted through the ingest API, they appear on the dashboard's time charts within a
second (a line for a moment, a band for a span) and leave them when an admin deletes one."""
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.browser.test_dashboard import open_dashboard, wait_for_live
from tests.servers import LIVE_ADMIN, login_session, start_server

TIME_CHARTS = ["chart-host", "chart-timeline"]
MARKS = "(ids) => ids.map((id) => Number(document.getElementById(id).dataset.marks ?? 0))"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("annotations"), DEMO="1", ADMIN_USERNAME=LIVE_ADMIN[0],
                          ADMIN_PASSWORD=LIVE_ADMIN[1], LIVE_UPDATE_INTERVAL="0.5", SYSTEM_SAMPLE_INTERVAL="0.5")
    server.admin = login_session(server)
    server.api_key = server.admin.post(server.url + "/admin/api/api-keys", json={"name": "ci"}, timeout=10).json()["key"]
    yield server
    server.admin.close()
    server.stop()


def annotate(server, **body) -> dict:
    response = requests.post(server.url + "/api/v1/annotations", json=body, timeout=10,
                             headers={"Authorization": f"Bearer {server.api_key}"})
    assert response.status_code == 201, response.text
    return response.json()["annotation"]


def wait_for_marks(page, counts, timeout):
    page.wait_for_function(f"(want) => JSON.stringify(({MARKS})({TIME_CHARTS!r})) === JSON.stringify(want)",
                           arg=counts, timeout=timeout)


def test_an_annotation_posted_through_the_api_is_on_the_time_charts_within_a_second(page, server):
    open_dashboard(page, server)
    wait_for_live(page, "Live · WebSocket")
    page.wait_for_function("() => Number(document.getElementById('chart-host').dataset.points) > 0")
    assert page.evaluate(MARKS, TIME_CHARTS) == [0, 0]

    started = time.monotonic()
    deploy = annotate(server, text="deploy v1.4", tags=["deploy"])
    wait_for_marks(page, [1, 1], timeout=1000)
    assert time.monotonic() - started < 1.5

    now = datetime.now(UTC)
    annotate(server, text="incident: db failover", time=(now - timedelta(seconds=30)).isoformat(),
             time_end=(now + timedelta(minutes=5)).isoformat())
    wait_for_marks(page, [2, 2], timeout=1000)

    deleted = server.admin.delete(f"{server.url}/admin/api/annotations/{deploy['id']}", timeout=10)
    assert deleted.status_code == 204
    wait_for_marks(page, [1, 1], timeout=1000)

    page.reload()  # the first paint reads them from GET annotations
    wait_for_marks(page, [1, 1], timeout=10000)
    assert page.console_errors == []
