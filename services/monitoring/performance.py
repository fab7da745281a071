"""Request performance: in-memory per-minute histograms per endpoint, flushed as rollups, and stats.

Every request only updates memory (`RequestMonitor.record`); a background task drains finished
minutes and `flush`es them once a minute, so the database sees one write per endpoint per minute
per process, never one per request. Stats merge the stored minutes with the live one.
"""
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import RequestRollup
from services.monitoring.histogram import LogHistogram, int_counts

UNMATCHED_ENDPOINT = "<unmatched>"
ENDPOINT_KEY = "pulseboard.endpoint"
SKIP_KEY = "pulseboard.skip_monitor"
# Clients choose the method; folding unknown ones keeps the number of series bounded.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
OTHER_METHOD = "OTHER"
# Weight of the newest sample in the overhead average: about the last 50 requests count.
OVERHEAD_ALPHA = 0.02
MATCHABLE = {"endpoint": RequestRollup.endpoint, "method": RequestRollup.method}


class _Totals:
    """Count, server errors, summed and bucketed durations of one series."""

    __slots__ = ("count", "errors", "total_ms", "histogram")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.total_ms = 0.0
        self.histogram = LogHistogram()

    def add_request(self, status: int, duration_ms: float) -> None:
        self.count += 1
        self.errors += status >= 500
        self.total_ms += duration_ms
        self.histogram.record(duration_ms)

    def add_rollup(self, row) -> None:
        self.count += row["count"]
        self.errors += row["errors"]
        self.total_ms += row["total_ms"]
        self.histogram.merge_counts(int_counts(row["histogram"]))

    def stats(self, window_seconds: float) -> dict:
        p50, p95, p99 = self.histogram.percentiles([50, 95, 99])
        return {"count": self.count, "rps": self.count / window_seconds if window_seconds > 0 else 0.0,
                "avg_ms": self.total_ms / self.count if self.count else None,
                "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                "error_rate": self.errors / self.count if self.count else 0.0}


class RequestMonitor:
    """Per-(minute, endpoint, method) request totals of one process, kept in memory."""

    def __init__(self, host: str, pid: int, clock: Callable[[], float] = time.time,
                 peer_rows: Callable[[], list[dict]] = list) -> None:
        self.host = host
        self.pid = pid
        self._clock = clock
        # The other processes' unflushed rows (services/cluster/shared_measurements.Peers), so that stats read
        # from the database plus `snapshot_unflushed` cover the cluster; none for a process alone.
        self._peer_rows = peer_rows
        self._lock = threading.Lock()
        self._series: dict[tuple[int, str, str], _Totals] = {}
        self._overhead_us: float | None = None

    def record(self, endpoint: str, method: str, status: int, duration_ms: float,
               now: float | None = None) -> None:
        """Count one finished request; status >= 500 counts as an error."""
        key = (self._current_minute(now), endpoint, method if method in KNOWN_METHODS else OTHER_METHOD)
        with self._lock:
            totals = self._series.get(key)
            if totals is None:
                totals = self._series[key] = _Totals()
            totals.add_request(status, duration_ms)

    def drain_completed(self, now: float | None = None) -> list[dict]:
        """Remove and return the rows of minutes that are over, ready for `flush`."""
        current = self._current_minute(now)
        with self._lock:
            done = [key for key in self._series if key[0] < current]
            return [self._row(key, self._series.pop(key)) for key in done]

    def snapshot_unflushed(self) -> list[dict]:
        """Return every row not yet drained for `flush` in the cluster: this process's and its peers'."""
        return self.own_unflushed() + self._peer_rows()

    def own_unflushed(self) -> list[dict]:
        """Return this process's rows not yet drained for `flush`, leaving them in place: the minute in progress,
        and a minute just over until the flush job takes it (up to 10 s), which the database does not hold yet."""
        with self._lock:
            return [self._row(key, totals) for key, totals in self._series.items()]

    def overhead_us(self) -> float | None:
        """Return the moving mean of µs the middleware adds per request; None before any request."""
        return self._overhead_us

    def wsgi_middleware(self, wsgi_app: Callable) -> Callable:
        """Wrap `wsgi_app` so each request is timed and recorded; the endpoint comes from the environ."""
        clock = time.perf_counter

        def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
            entered = clock()
            statuses: list[str] = []

            def capture(status: str, headers: list, exc_info=None):
                statuses.append(status)
                return start_response(status, headers, exc_info)

            started = clock()
            try:
                body = wsgi_app(environ, capture)
            except BaseException:
                self._finish(environ, "500", started, entered)
                raise
            if not statuses:  # the app starts its response lazily: time it until the server closes it
                return _RecordOnClose(body, lambda: self._finish(environ, _last(statuses), started, entered))
            self._finish(environ, statuses[-1], started, entered)
            return body

        return middleware

    def _finish(self, environ: dict, status: str, started: float, entered: float) -> None:
        # Flask's wsgi_app renders the body and runs teardown before returning, so the duration
        # stops here; sending the body is the server's time, not the app's.
        returned = time.perf_counter()
        if environ.get(SKIP_KEY):
            return
        endpoint = environ.get(ENDPOINT_KEY) or UNMATCHED_ENDPOINT
        self.record(endpoint, environ.get("REQUEST_METHOD", "GET"), int(status[:3]), (returned - started) * 1e3)
        self._note_overhead((started - entered + time.perf_counter() - returned) * 1e6)

    def _note_overhead(self, sample_us: float) -> None:
        # Unlocked on purpose: a race can only drop one sample from a moving average.
        previous = self._overhead_us
        self._overhead_us = sample_us if previous is None else previous + OVERHEAD_ALPHA * (sample_us - previous)

    def _current_minute(self, now: float | None) -> int:
        return int((self._clock() if now is None else now) // 60)

    def _row(self, key: tuple[int, str, str], totals: _Totals) -> dict:
        minute, endpoint, method = key
        return {"minute": datetime.fromtimestamp(minute * 60, UTC), "host": self.host, "pid": self.pid,
                "endpoint": endpoint, "method": method, "count": totals.count, "errors": totals.errors,
                "total_ms": totals.total_ms, "histogram": totals.histogram.to_dict()}


class _RecordOnClose:
    """A response body that records the request when the server closes it (PEP 3333 promises close)."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._body = body
        self._on_close = on_close

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        try:
            if hasattr(self._body, "close"):
                self._body.close()
        finally:
            self._on_close()


def _last(statuses: list[str]) -> str:
    # Closed without ever starting a response: the body raised, and the server answers 500.
    return statuses[-1] if statuses else "500"


def _series_key(row: dict) -> tuple:
    return (row["minute"], row["host"], row["pid"], row["endpoint"], row["method"])


def _record_key(record: RequestRollup) -> tuple:
    return (record.minute, record.host, record.pid, record.endpoint, record.method)


def _distinct(values: Iterable) -> list:
    return list(dict.fromkeys(values))


def flush(session: Session, rows: list[dict]) -> int:
    """Add drained rows to the stored rollups, merging into rows that exist; returns rows written."""
    batch: dict[tuple, _Totals] = {}
    for row in rows:
        batch.setdefault(_series_key(row), _Totals()).add_rollup(row)
    if not batch:
        return 0
    # One read for the whole batch; a process flushes only its own (host, pid), so no one races us.
    keys = list(batch)
    stored = session.scalars(select(RequestRollup).where(
        RequestRollup.minute.in_(_distinct(key[0] for key in keys)),
        RequestRollup.host.in_(_distinct(key[1] for key in keys)),
        RequestRollup.pid.in_(_distinct(key[2] for key in keys)),
    ))
    existing = {_record_key(record): record for record in stored}
    for key, totals in batch.items():
        _write_rollup(session, existing.get(key), key, totals)
    session.flush()
    return len(batch)


def _write_rollup(session: Session, record: RequestRollup | None, key: tuple, totals: _Totals) -> None:
    if record is None:
        minute, host, pid, endpoint, method = key
        session.add(RequestRollup(minute=minute, host=host, pid=pid, endpoint=endpoint, method=method,
                                  count=totals.count, errors=totals.errors, total_ms=totals.total_ms,
                                  histogram=totals.histogram.to_dict()))
        return
    record.count += totals.count
    record.errors += totals.errors
    record.total_ms += totals.total_ms
    # A new dict, not an in-place update: the JSON column only notices reassignment.
    record.histogram = LogHistogram.from_dict(record.histogram or {}).merge(totals.histogram).to_dict()


def endpoint_stats(session: Session, since: datetime, until: datetime,
                   extra_rows: Iterable[dict] = ()) -> list[dict]:
    """Per (endpoint, method) over [since, until) across all processes: count, rps, latency, error rate."""
    groups = grouped_stats(session, since, until, extra_rows, ("endpoint", "method"))
    stats = [{"endpoint": endpoint, "method": method} | figures for (endpoint, method), figures in groups.items()]
    return sorted(stats, key=lambda item: (-item["count"], item["endpoint"], item["method"]))


def grouped_stats(session: Session, since: datetime, until: datetime, extra_rows: Iterable[dict],
                  by: tuple[str, ...], match: Mapping[str, str] | None = None,
                  stored: list[Mapping] | None = None) -> dict[tuple, dict]:
    """Stats over [since, until), widened to whole minutes, per value of the `by` columns ("endpoint", "method";
    none: the whole app), of the requests whose columns equal `match` ({"endpoint": ..., "method": ...});
    groups without requests are absent. `stored`: rollup rows already read (`stored_rows`) over a span holding
    this one, so that several stats over one span read the database once."""
    since = minute_start(since)
    groups: dict[tuple, _Totals] = {}
    for row in _rows_in_window(session, since, until, extra_rows, match or {}, stored):
        groups.setdefault(tuple(row[name] for name in by), _Totals()).add_rollup(row)
    window = (until - since).total_seconds()
    return {key: totals.stats(window) for key, totals in groups.items()}


def process_stats(session: Session, since: datetime, until: datetime, extra_rows: Iterable[dict] = ()) -> list[dict]:
    """Per server process (host, pid) over [since, until): what `summary` gives for the whole app."""
    groups = grouped_stats(session, since, until, extra_rows, ("host", "pid"))
    return [{"host": host, "pid": pid} | figures for (host, pid), figures in sorted(groups.items())]


def summary(session: Session, since: datetime, until: datetime, extra_rows: Iterable[dict] = ()) -> dict:
    """The whole app over [since, until), widened to whole minutes: count, rps, avg and percentile latency, error rate."""
    since = minute_start(since)
    totals = _Totals()
    for row in _rows_in_window(session, since, until, extra_rows):
        totals.add_rollup(row)
    return totals.stats((until - since).total_seconds())


def minute_start(since: datetime) -> datetime:
    """Stats start at the minute `since` falls in: requests are stored per minute, and a window that cut into
    a minute would drop it whole (a "last minute" read just after the minute turned would see no requests)."""
    return since.replace(second=0, microsecond=0)


def stored_rows(session: Session, since: datetime, until: datetime, match: Mapping[str, str] = MappingProxyType({})):
    """The stored per-minute rollups of [since, until) whose columns equal `match`."""
    query = select(RequestRollup.minute, RequestRollup.host, RequestRollup.pid, RequestRollup.endpoint,
                   RequestRollup.method, RequestRollup.count,
                   RequestRollup.errors, RequestRollup.total_ms, RequestRollup.histogram).where(
        RequestRollup.minute >= since, RequestRollup.minute < until)
    for name, value in match.items():
        query = query.where(MATCHABLE[name] == value)
    return session.execute(query).mappings().all()


def _rows_in_window(session: Session, since: datetime, until: datetime, extra_rows: Iterable[dict],
                    match: Mapping[str, str] = MappingProxyType({}), stored: list[Mapping] | None = None):
    stored = list(stored_rows(session, since, until, match) if stored is None else _within(stored, since, until, match))
    # Another process's rows come from its last heartbeat, which may predate the flush that stored them since;
    # a process flushes a minute whole and once, so a stored series-minute means its shared row is already in.
    flushed = {_series_key(row) for row in stored}
    yield from stored
    yield from (row for row in _within(extra_rows, since, until, match) if _series_key(row) not in flushed)


def _within(rows: Iterable[Mapping], since: datetime, until: datetime, match: Mapping[str, str]):
    return (row for row in rows
            if since <= row["minute"] < until and all(row[name] == value for name, value in match.items()))


def per_minute(session: Session, since: datetime, until: datetime, extra_rows: Iterable[dict] = ()) -> dict:
    """The whole app per minute over [since, until): minute -> count, p95 and error rate."""
    minutes: dict[datetime, _Totals] = {}
    for row in _rows_in_window(session, since, until, extra_rows):
        minutes.setdefault(row["minute"], _Totals()).add_rollup(row)
    return {minute: {"requests": totals.count, "p95_ms": totals.histogram.percentile(95),
                     "error_rate": totals.errors / totals.count if totals.count else None}
            for minute, totals in minutes.items()}
