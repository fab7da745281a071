from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.test import Client

from database import RequestRollup
from services.monitoring import performance
from services.monitoring.histogram import RELATIVE_ERROR, LogHistogram
from services.monitoring.performance import RequestMonitor
from tests.fakes import FakeClock

MINUTE_0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T0 = MINUTE_0.timestamp()


def monitor_with(requests, host="web-1", pid=100):
    """A monitor that has seen `requests`: (seconds after T0, endpoint, method, status, ms)."""
    monitor = RequestMonitor(host, pid, clock=FakeClock(T0))
    for offset, endpoint, method, status, ms in requests:
        monitor.record(endpoint, method, status, ms, now=T0 + offset)
    return monitor


TWO_MINUTES = [
    (1, "api.items", "GET", 200, 10.0),
    (20, "api.items", "GET", 200, 20.0),
    (59.9, "api.items", "GET", 500, 30.0),
    (30, "auth.login", "POST", 404, 5.0),
    (60, "api.items", "GET", 200, 40.0),
]


def by_series(rows):
    return {(row["endpoint"], row["method"]): row for row in rows}


def test_drain_returns_only_finished_minutes_and_removes_them():
    monitor = monitor_with(TWO_MINUTES)
    rows = by_series(monitor.drain_completed(now=T0 + 61))
    assert set(rows) == {("api.items", "GET"), ("auth.login", "POST")}
    items = rows["api.items", "GET"]
    assert items["minute"] == MINUTE_0
    assert (items["host"], items["pid"]) == ("web-1", 100)
    assert (items["count"], items["errors"], items["total_ms"]) == (3, 1, 60.0)
    assert LogHistogram.from_dict(items["histogram"]).count == 3
    assert rows["auth.login", "POST"]["errors"] == 0
    assert monitor.drain_completed(now=T0 + 61) == []


def test_snapshot_returns_every_minute_not_yet_drained_without_removing_it():
    monitor = monitor_with(TWO_MINUTES)
    snapshot = monitor.snapshot_unflushed()
    assert {row["minute"] for row in snapshot} == {MINUTE_0, MINUTE_0 + timedelta(minutes=1)}
    assert monitor.snapshot_unflushed() == snapshot
    assert monitor.drain_completed(now=T0 + 61) != []  # minute 0 goes to the flush; minute 1 stays
    assert {row["minute"] for row in monitor.snapshot_unflushed()} == {MINUTE_0 + timedelta(minutes=1)}


def test_the_clock_decides_the_minute_when_no_time_is_given():
    monitor = RequestMonitor("web-1", 100, clock=FakeClock(T0 + 125))
    monitor.record("api.items", "GET", 200, 3.0)
    assert monitor.snapshot_unflushed()[0]["minute"] == MINUTE_0 + timedelta(minutes=2)
    assert monitor.drain_completed() == []


@pytest.mark.parametrize("status, errors", [(200, 0), (302, 0), (404, 0), (499, 0), (500, 1), (503, 1)])
def test_only_server_errors_count_as_errors(status, errors):
    monitor = monitor_with([(0, "api.items", "GET", status, 1.0)])
    assert monitor.snapshot_unflushed()[0]["errors"] == errors


@pytest.mark.parametrize("method, stored", [("GET", "GET"), ("DELETE", "DELETE"), ("BREW", "OTHER"),
                                            ("get", "OTHER")])
def test_unknown_methods_are_folded_together(method, stored):
    monitor = monitor_with([(0, "api.items", method, 200, 1.0)])
    assert monitor.snapshot_unflushed()[0]["method"] == stored


def stored_rollups(session):
    return {(row.host, row.pid, row.endpoint, row.method): row for row in session.scalars(select(RequestRollup))}


def test_flush_inserts_then_merges_into_existing_rows(db_session):
    rows = monitor_with(TWO_MINUTES).drain_completed(now=T0 + 61)
    assert performance.flush(db_session, rows) == 2
    db_session.commit()
    assert performance.flush(db_session, rows) == 2
    db_session.commit()
    stored = stored_rollups(db_session)
    assert len(stored) == 2
    items = stored["web-1", 100, "api.items", "GET"]
    assert (items.minute, items.count, items.errors, items.total_ms) == (MINUTE_0, 6, 2, 120.0)
    doubled = LogHistogram.from_dict(rows[0]["histogram"]).merge(LogHistogram.from_dict(rows[0]["histogram"]))
    assert items.histogram == doubled.to_dict()


def test_flush_keeps_processes_and_minutes_apart(db_session):
    first = monitor_with(TWO_MINUTES, pid=100).drain_completed(now=T0 + 121)
    second = monitor_with(TWO_MINUTES, host="web-2", pid=100).drain_completed(now=T0 + 121)
    performance.flush(db_session, first + second)
    db_session.commit()
    keys = {(row.minute, row.host, row.endpoint) for row in db_session.scalars(select(RequestRollup))}
    assert len(keys) == 6


def test_flush_merges_duplicate_series_within_one_batch(db_session):
    rows = monitor_with(TWO_MINUTES).drain_completed(now=T0 + 61)
    assert performance.flush(db_session, rows + rows) == 2
    assert stored_rollups(db_session)["web-1", 100, "auth.login", "POST"].count == 2


def test_flush_of_nothing_writes_nothing(db_session):
    assert performance.flush(db_session, []) == 0


def spread_requests(endpoint, durations, status_of, minutes):
    """One request per duration, spread evenly over `minutes` whole minutes from T0."""
    step = 60 * minutes / len(durations)
    return [(index * step, endpoint, "GET", status_of(index), ms) for index, ms in enumerate(durations)]


@pytest.fixture
def five_minutes(db_session):
    """Two processes over minutes 0..4 (stored), plus process A's live minute 5; returns the live rows."""
    durations = [float(ms) for ms in range(1, 1001)]
    a = monitor_with(spread_requests("api.items", durations[:600], lambda i: 500 if i % 20 == 0 else 200, 6)
                     + [(-30, "api.items", "GET", 200, 1.0), (301, "auth.login", "POST", 200, 7.0)], pid=1)
    b = monitor_with(spread_requests("api.items", durations[600:], lambda i: 200, 5), pid=2)
    for monitor in (a, b):
        performance.flush(db_session, monitor.drain_completed(now=T0 + 300))
    db_session.commit()
    return a.snapshot_unflushed()


def test_endpoint_stats_merge_stored_minutes_processes_and_the_live_minute(db_session, five_minutes):
    stats = performance.endpoint_stats(db_session, MINUTE_0, MINUTE_0 + timedelta(minutes=6), five_minutes)
    assert [(row["endpoint"], row["method"], row["count"]) for row in stats] == [
        ("api.items", "GET", 1000), ("auth.login", "POST", 1)]
    items = stats[0]
    assert items["rps"] == 1000 / 360
    assert items["error_rate"] == 30 / 1000
    assert items["avg_ms"] == pytest.approx(500.5)
    for key, exact in [("p50_ms", 500), ("p95_ms", 950), ("p99_ms", 990)]:
        assert items[key] == pytest.approx(exact, rel=RELATIVE_ERROR)


def test_endpoint_stats_leave_out_minutes_outside_the_window(db_session, five_minutes):
    stats = performance.endpoint_stats(db_session, MINUTE_0 + timedelta(minutes=1),
                                       MINUTE_0 + timedelta(minutes=5), five_minutes)
    assert [(row["endpoint"], row["count"]) for row in stats] == [("api.items", 4 * 100 + 4 * 80)]
    assert stats[0]["rps"] == 720 / 240


def test_endpoint_stats_of_an_empty_window_are_empty(db_session):
    assert performance.endpoint_stats(db_session, MINUTE_0, MINUTE_0 + timedelta(minutes=5)) == []


def test_summary_totals_the_whole_app(db_session, five_minutes):
    total = performance.summary(db_session, MINUTE_0, MINUTE_0 + timedelta(minutes=6), five_minutes)
    assert total["count"] == 1001
    assert total["rps"] == 1001 / 360
    assert total["error_rate"] == 30 / 1001
    assert total["p95_ms"] == pytest.approx(950, rel=RELATIVE_ERROR)


def test_a_window_starting_inside_a_minute_counts_that_whole_minute(db_session, five_minutes):
    # Two seconds into minute 5, "the last minute" must still see minute 4 (stored) and the live minute 5.
    now = MINUTE_0 + timedelta(minutes=5, seconds=2)
    total = performance.summary(db_session, now - timedelta(minutes=1), now, five_minutes)
    assert total["count"] == 100 + 80 + 100 + 1
    assert total["rps"] == total["count"] / 62
    assert total["p95_ms"] is not None


def test_summary_of_an_empty_window_has_no_latency(db_session):
    total = performance.summary(db_session, MINUTE_0, MINUTE_0 + timedelta(minutes=1))
    assert (total["count"], total["rps"], total["error_rate"], total["p95_ms"]) == (0, 0.0, 0.0, None)


def tiny_app(environ, start_response):
    """A WSGI app that names its endpoint the way the Flask hook will, and fails on /boom."""
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("boom")
    environ[performance.ENDPOINT_KEY] = {"/items": "api.items", "/stream": "stream.events"}.get(path)
    environ[performance.SKIP_KEY] = path == "/stream"
    status = "200 OK" if environ[performance.ENDPOINT_KEY] else "404 NOT FOUND"
    start_response(status, [("Content-Type", "text/plain")])
    return [b"hello"]


def lazy_app(environ, start_response):
    """A generator app: it starts its response only when the server iterates the body."""
    environ[performance.ENDPOINT_KEY] = "lazy.view"
    start_response("201 CREATED", [])
    yield b"made"


def live_rows(monitor):
    return by_series(monitor.snapshot_unflushed())


@pytest.fixture
def monitor():
    return RequestMonitor("web-1", 100, clock=FakeClock(T0))


def test_middleware_records_status_endpoint_and_method(monitor):
    client = Client(monitor.wsgi_middleware(tiny_app))
    assert monitor.overhead_us() is None
    response = client.get("/items")
    assert (response.status_code, response.data) == (200, b"hello")
    client.post("/items")
    client.get("/missing")
    rows = live_rows(monitor)
    assert {key: row["count"] for key, row in rows.items()} == {
        ("api.items", "GET"): 1, ("api.items", "POST"): 1, ("<unmatched>", "GET"): 1}
    assert rows["api.items", "GET"]["total_ms"] > 0
    assert monitor.overhead_us() > 0


def test_middleware_skips_requests_marked_to_skip(monitor):
    Client(monitor.wsgi_middleware(tiny_app)).get("/stream")
    assert monitor.snapshot_unflushed() == []
    assert monitor.overhead_us() is None


def test_middleware_records_an_exception_as_a_server_error(monitor):
    with pytest.raises(RuntimeError):
        Client(monitor.wsgi_middleware(tiny_app)).get("/boom")
    row = live_rows(monitor)["<unmatched>", "GET"]
    assert (row["count"], row["errors"]) == (1, 1)


def test_middleware_records_a_lazy_app_when_its_body_is_closed(monitor):
    response = Client(monitor.wsgi_middleware(lazy_app)).get("/lazy")
    assert (response.status_code, response.data) == (201, b"made")
    assert monitor.snapshot_unflushed() == []
    response.close()
    row = live_rows(monitor)["lazy.view", "GET"]
    assert (row["count"], row["errors"]) == (1, 0)
