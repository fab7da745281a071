"""The value an alert rule watches, now, per label set, read from rollups and in-process histograms.

A `SeriesQuery` carries the series fields of a rule (SPEC §9 names, so a rule row or a request body maps onto
it by name); `evaluate` answers one `SeriesValue` per label set. Nothing is read point by point: custom metrics
come from their rollups, host figures from hour and minute rollups plus the samples not yet rolled up,
endpoints from request rollups plus the minute held in this process, revenue from its hourly rollups plus the
edge hours, other business figures from indexed aggregates. `value` is None when the window holds no points:
the caller calls that `nodata`. The rule's `aggregation` applies to metric and host series; endpoint and
business series name their own aggregate (p95, rps, failure_rate, ...). The query and the span a window is read
over are series_query's; what an evaluation pass shares between its rules is pass_reads'.
"""
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.alerts.metric_history import MetricHistory
from services.alerts.pass_reads import Reads
from services.alerts.series_query import (
    MINUTE_ROLLUPS_KEPT,
    PERCENTILES,
    LabelKey,
    SeriesError,
    SeriesQuery,
    SeriesValue,
    host_levels,
    metric_bucket,
    reaches_past_minute_rollups,
    window_span,
)
from services.analytics import business, kpis, metric_queries
from services.monitoring import performance
from services.monitoring.histogram import LogHistogram

# Callers build queries and passes through this module: series.SeriesQuery, series.Reads, series.MetricHistory.
__all__ = ["SOURCES", "MetricHistory", "Reads", "SeriesError", "SeriesQuery", "SeriesValue", "check", "evaluate"]

HOST_FIGURES = {"cpu": "cpu_percent", "memory": "memory_percent", "disk": "disk_percent", "swap": "swap_percent",
                "load": "load_1", "net_sent": "net_sent_bytes_per_s", "net_recv": "net_recv_bytes_per_s",
                "disk_read": "disk_read_bytes_per_s", "disk_write": "disk_write_bytes_per_s",
                "process_cpu": "process_cpu_percent", "process_rss": "process_rss"}
ENDPOINT_FIGURES = {"p95": "p95_ms", "p99": "p99_ms", "avg": "avg_ms", "error_rate": "error_rate", "rps": "rps"}
BUSINESS_METRICS = ("revenue", "failure_rate", "transactions_per_minute", "active_users")


def evaluate(session: Session, runtime, query: SeriesQuery, now: datetime, reads: Reads | None = None) -> list[SeriesValue]:
    """The value of `query`'s series at `now`, one per label set, sorted by labels. With compare_offset_seconds
    the value is current / past, the same window that much earlier (None when either is empty or past is 0).
    An evaluation pass passes its `reads`, so that rules share what they read."""
    read = _reader(query)
    reads = reads or Reads(session, runtime)
    if query.compare_offset_seconds is None:
        found = reads.read(read, query, now, False)
        return [SeriesValue(dict(key), value, value) for key, value in _with_nodata(query, found)]
    offset = timedelta(seconds=query.compare_offset_seconds)
    current = reads.read(read, query, now, True)
    past = reads.read(read, query, now - offset, True)
    keys = {**current, **past}
    return [SeriesValue(dict(key), _ratio(current.get(key), past.get(key)), current.get(key), past.get(key))
            for key, _ in _with_nodata(query, keys)]


def _ratio(current: float | None, past: float | None) -> float | None:
    return None if current is None or not past else current / past


def _with_nodata(query: SeriesQuery, found: dict[LabelKey, float | None]) -> list[tuple[LabelKey, float | None]]:
    # An empty window still answers when its label set is known (no grouping, or every group tag filtered to
    # one value): that is the instance that goes `nodata`. Otherwise there is no label set to report on.
    pinned = all(name in query.filters for name in _group_by(query))
    if not found and pinned:
        found = {_label_key(query.filters, _group_by(query)): None}
    return sorted(found.items())


def _group_by(query: SeriesQuery) -> tuple[str, ...]:
    # Amounts in different currencies do not add up, so revenue is always one series per currency.
    return ("currency",) if (query.source, query.metric) == ("business", "revenue") else query.group_by


def _label_key(tags: Mapping, names: tuple[str, ...]) -> LabelKey:
    if not names:  # most rules group nothing: one series
        return ()
    return tuple((name, str(tags[name])) for name in sorted(names) if tags.get(name) is not None)


def _matches(tags: Mapping, filters: Mapping) -> bool:
    if not filters:
        return True
    return all(str(tags.get(name)) == str(value) for name, value in filters.items())


def _read_metric(reads: Reads, query: SeriesQuery, end: datetime, complete: bool) -> dict:
    """A custom metric's aggregate per label set, merged from the rollups (histograms for p95/p99)."""
    bucket = metric_bucket(query)
    span = window_span(end, query, bucket, complete)
    groups: dict[LabelKey, list] = defaultdict(list)
    percentile = query.aggregation in PERCENTILES
    for row in reads.metric_series(query.metric, bucket, span, histograms=percentile):
        if _matches(row.tags, query.filters):
            groups[_label_key(row.tags, query.group_by)].append(row)
    return {key: metric_queries.aggregate(query.aggregation, parts) for key, parts in groups.items()}


def _read_host(reads: Reads, query: SeriesQuery, end: datetime, complete: bool) -> dict:
    """A host figure per label set (`host`), over the samples of every process on that host. Rollups hold
    averages, so min, max (but cpu's, which keeps its peak) and percentiles are taken over minute averages."""
    levels = host_levels(query)
    span = window_span(end, query, levels[0], complete)
    figure = "cpu_max" if (query.metric, query.aggregation) == ("cpu", "max") else HOST_FIGURES[query.metric]
    host = query.filters.get("host")
    # Rules on other figures of the same hosts and span read the same samples: their figures are read once.
    samples = reads.once(("host", span, levels, host), lambda: reads.host_samples(span, levels, host))
    groups: dict[LabelKey, list[tuple[float, int]]] = defaultdict(list)
    for sample in samples:
        if sample.figures[figure] is not None:
            groups[_label_key({"host": sample.host}, query.group_by)].append((sample.figures[figure], sample.weight))
    return {key: _weighted(query.aggregation, values) for key, values in groups.items()}


def _weighted(aggregation: str, values: list[tuple[float, int]]) -> float | None:
    count = sum(weight for _, weight in values)
    if aggregation == "count":
        return count
    if aggregation == "avg":
        return sum(value * weight for value, weight in values) / count
    if aggregation in ("min", "max"):
        return (min if aggregation == "min" else max)(value for value, _ in values)
    histogram = LogHistogram()
    for value, weight in values:
        histogram.record(value, weight)
    return histogram.percentile(95 if aggregation == "p95" else 99)


def _read_endpoint(reads: Reads, query: SeriesQuery, end: datetime, complete: bool) -> dict:
    """Request latency, error rate or rate of one endpoint (filter `endpoint`) or all, or per endpoint and/or
    method (`group_by`), from the request rollups plus the minute this process holds in memory."""
    span = window_span(end, query, "1m", complete)
    by = tuple(sorted(query.group_by))
    # p95, error rate and rps of the same requests are figures of one set of stats: computed once, from the
    # rollups every endpoint rule of the pass shares.
    groups = reads.once(("endpoint", span, by, tuple(sorted(query.filters.items()))), lambda: performance.grouped_stats(
        reads.session, span.start, span.end, reads.runtime.monitor.snapshot_unflushed(), by, query.filters,
        reads.request_rollups(span)))
    return {tuple(zip(by, key, strict=True)): stats[ENDPOINT_FIGURES[query.metric]] for key, stats in groups.items()}


def _read_business(reads: Reads, query: SeriesQuery, end: datetime, complete: bool) -> dict:
    """Revenue per currency, failure rate, transactions per minute or active users over the exact window."""
    session, since = reads.session, end - timedelta(seconds=query.window_seconds)
    if query.metric == "revenue":
        return _revenue(session, since, end, query.filters)
    if query.metric == "failure_rate":
        rate = kpis.success_rate(session, since, end)
        return {} if rate is None else {(): round(1 - rate, 4)}
    count = (kpis.transaction_count if query.metric == "transactions_per_minute" else kpis.active_users)(
        session, since, end)
    if not count:
        return {}
    return {(): count * 60 / query.window_seconds if query.metric == "transactions_per_minute" else count}


def _revenue(session: Session, since: datetime, until: datetime, filters: Mapping) -> dict:
    return {(("currency", currency),): int(amount) / 10_000
            for currency, amount in business.completed_revenue(session, since, until).items()
            if _matches({"currency": currency}, filters)}


@dataclass(frozen=True)
class Source:
    read: Callable
    metrics: tuple[str, ...] | None  # None: any name (custom metrics)
    aggregations: tuple[str, ...] | None  # None: the metric names its own aggregate
    labels: tuple[str, ...] | None  # the names filters and group_by may use; None: any tag


SOURCES = {
    "metric": Source(_read_metric, None, metric_queries.AGGREGATIONS, None),
    "host": Source(_read_host, tuple(HOST_FIGURES), ("avg", "count", "min", "max", "p95", "p99"), ("host",)),
    "endpoint": Source(_read_endpoint, tuple(ENDPOINT_FIGURES), None, ("endpoint", "method")),
    "business": Source(_read_business, BUSINESS_METRICS, None, ("currency",)),  # revenue only: see _labels
}


def check(query: SeriesQuery) -> None:
    """Refuse, naming the field, a query no series answers: what a rule may watch is what this module can read."""
    _reader(query)


def _reader(query: SeriesQuery) -> Callable:
    source = SOURCES.get(query.source)
    if source is None:
        raise SeriesError("source", f"must be one of {', '.join(SOURCES)}")
    if not query.metric or (source.metrics is not None and query.metric not in source.metrics):
        raise SeriesError("metric", f"{query.source} series are {', '.join(source.metrics or ['custom metric names'])}")
    if source.aggregations is not None and query.aggregation not in source.aggregations:
        raise SeriesError("aggregation", f"{query.source} series take one of {', '.join(source.aggregations)}")
    if query.source == "endpoint" and reaches_past_minute_rollups(query):
        raise SeriesError("compare_offset_seconds", f"request timings are kept per minute for "
                          f"{MINUTE_ROLLUPS_KEPT.days} days (MINUTE_ROLLUP_RETENTION_DAYS): compare within that")
    labels = _labels(source, query)
    for name, used in (("filters", tuple(query.filters)), ("group_by", query.group_by)):
        unknown = [label for label in used if labels is not None and label not in labels]
        if unknown:
            raise SeriesError(name, f"{query.source} {query.metric} has no label {', '.join(unknown)}")
    return source.read


def _labels(source: Source, query: SeriesQuery) -> tuple[str, ...] | None:
    # Only revenue is kept per currency; the other business figures count every transaction or user.
    return () if query.source == "business" and query.metric != "revenue" else source.labels
