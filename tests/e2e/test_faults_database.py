"""PostgreSQL becomes unreachable behind a TCP proxy the test controls, then comes back, with the server running.

Cut: connections are closed and new ones refused. Blackhole: sockets stay open and nothing answers, the case
only timeouts end. Either way ingest answers 503 with Retry-After within seconds, the dashboard answers its last
good values marked stale, health says degraded, the session keeps working; once the proxy forwards again
everything recovers by itself within 10 s and nothing acknowledged is lost.
"""
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.conftest import csrf_token_in
from tests.e2e.faults import assert_no_traceback, assert_stored_exactly, batch, post, timed
from tests.e2e.test_ingest_server import create_api_key
from tests.servers import LIVE_ADMIN, login_session
from tests.tcp_proxy import TcpProxy

READS = ["/admin/api/metrics/live", "/admin/api/analytics/revenue", "/admin/api/transactions",
         "/admin/api/transactions/flow"]
# Answers while the database is gone: until the breaker opens (BREAKER_FAILURES, 3) a request may wait out a
# pooled connection's silence (6 s) and a connect timeout (2 s); then ingest is refused at once.
BREAKER_FAILURES = 3
FIRST_ANSWER_WITHIN, OPEN_BREAKER_ANSWER_WITHIN, RECOVERY_WITHIN = 9.0, 1.0, 10.0


def through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))


@pytest.fixture
def proxy():
    with TcpProxy(("127.0.0.1", 5432)) as running:
        yield running


@pytest.mark.parametrize("fault", ["cut", "blackhole"])
def test_database_outage_degrades_and_recovers_by_itself(server_factory, postgres_url, proxy, fault):
    server = server_factory(DATABASE_URL=through(proxy, postgres_url), ADMIN_PASSWORD=LIVE_ADMIN[1],
                            INGEST_RATE_LIMIT="10000 per second", BREAKER_FAILURES=BREAKER_FAILURES)
    key, admin = create_api_key(server), login_session(server)
    acked = accept(server, key, "before-1")
    last_good = {path: read(admin, server, path) for path in READS}
    acked |= accept(server, key, "before-2")  # invalidates those answers: the next reads must go to the database

    getattr(proxy, fault)()
    refused = outage_answers(server, admin, key, last_good)

    proxy.restore()
    recovered_in, first_accepted = wait_for_recovery(server, admin, key, refused)
    acked |= first_accepted | accept(server, key, "after")
    print(f"{fault}: recovered in {recovered_in:.1f} s")

    assert_stored_exactly(postgres_url, acked)  # the refused batches are not stored either
    assert "database unavailable on POST /api/v1/events" in server.output()
    assert_no_traceback(server)


def accept(server, key: str, tag: str) -> dict:
    items = batch(tag)
    response = post(server.url, key, items)
    assert response.status_code == 202, response.text
    return items


def read(admin, server, path: str) -> dict:
    response = admin.get(server.url + path, timeout=15)
    assert response.status_code == 200 and "stale" not in response.json(), response.text[:300]
    return response.json()


def outage_answers(server, admin, key: str, last_good: dict) -> dict:
    """Ingest refused with 503 + Retry-After, reads stale, health degraded, the session alive; the refused items."""
    refused = {}
    for attempt in range(5):
        items = batch(f"during-{attempt}")
        (elapsed, response), slowest_probe = while_probing(server, lambda: post(server.url, key, items))  # noqa: B023
        assert_unavailable(response)
        assert slowest_probe < 1.0, f"/healthz took {slowest_probe:.1f} s while a request waited on the database"
        limit = FIRST_ANSWER_WITHIN if attempt < BREAKER_FAILURES else OPEN_BREAKER_ANSWER_WITHIN
        print(f"ingest attempt {attempt}: 503 in {elapsed:.2f} s")
        assert elapsed < limit, f"ingest attempt {attempt} answered after {elapsed:.1f} s"
        refused |= items
    for path in READS:
        elapsed, response = timed(lambda: admin.get(server.url + path, timeout=15))  # noqa: B023
        print(f"{path}: {response.status_code} in {elapsed:.2f} s")
        assert response.status_code == 200 and elapsed < FIRST_ANSWER_WITHIN, (path, elapsed, response.text[:300])
        assert response.json() == last_good[path] | {"stale": True}, path
    health = admin.get(server.url + "/admin/api/health", timeout=15)
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert health.json()["components"]["database"]["status"] == "down"
    assert health.json()["components"]["circuit_breaker"]["state"] in ("open", "half_open")
    uncached = admin.get(server.url + "/admin/api/notifications", timeout=15)
    assert_unavailable(uncached)
    page = admin.get(server.url + "/admin/dashboard", timeout=15)
    assert page.status_code == 200 and page.url.endswith("/admin/dashboard")
    assert_login_unavailable(server)
    return refused


def assert_login_unavailable(server) -> None:
    """A new login needs the database: the form answers an HTML 503 with Retry-After, not a 500."""
    visitor = requests.Session()
    token = csrf_token_in(visitor.get(server.url + "/login", timeout=15).text)
    response = visitor.post(server.url + "/login", data={"username": LIVE_ADMIN[0], "password": LIVE_ADMIN[1],
                                                         "csrf_token": token}, timeout=15)
    assert response.status_code == 503 and "text/html" in response.headers["Content-Type"], response.text[:300]
    assert int(response.headers["Retry-After"]) >= 1


def while_probing(server, call) -> tuple[tuple[float, object], float]:
    """timed(call), and the slowest of the /healthz requests made meanwhile: a request waiting on the database
    must not stop the server from answering others."""
    probes = [0.0]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(timed, call)
        while not pending.done():
            probes.append(timed(lambda: requests.get(server.url + "/healthz", timeout=15))[0])
            time.sleep(0.1)
    return pending.result(), max(probes)


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "unavailable"


def wait_for_recovery(server, admin, key: str, refused: dict) -> tuple[float, dict]:
    """Seconds from the restore until ingest, every read and health are all well again (at most RECOVERY_WITHIN),
    and the first batch accepted; batches refused meanwhile are added to `refused`."""
    started = time.monotonic()
    attempt = 0
    while True:
        elapsed = time.monotonic() - started
        assert elapsed < RECOVERY_WITHIN, "not recovered within 10 s of the database's return"
        items = batch(f"recovering-{attempt}")
        if post(server.url, key, items).status_code == 202:
            break
        refused |= items
        attempt += 1
        time.sleep(0.25)
    while not all_well(server, admin):
        assert time.monotonic() - started < RECOVERY_WITHIN, "reads or health not recovered within 10 s"
        time.sleep(0.25)
    return time.monotonic() - started, items


def all_well(server, admin) -> bool:
    answers = [admin.get(server.url + path, timeout=15) for path in READS + ["/admin/api/health"]]
    return all(answer.status_code == 200 and "stale" not in answer.json() for answer in answers)
