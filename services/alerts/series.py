"""The value an alert rule watches, now, per label set, read from rollups and in-process histograms.

A `SeriesQuery` carries the series fields of a rule (SPEC §9 names, so a rule row or a request body maps onto
it by name); `evaluate` answers one `SeriesValue` per label set. Nothing is read point by point: custom metrics
come from their rollups, host figures from hour and minute rollups plus the samples not yet rolled up,
endpoints from request rollups plus the minute held in this process, revenue from its hourly rollups plus the
edge hours, other business figures from indexed aggregates. `value` is None when the window holds no points:
the caller calls that `nodata`. The rule's `aggregation` applies to metric and host series; endpoint and
business series name their own aggregate (p95, rps, failure_rate, ...).
"""
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Config
from database import HostSample
from services.analytics import business, kpis, metric_queries
from services.analytics.time_buckets import BUCKET_SECONDS, floor_time
from services.monitoring import host_sampler, performance
from services.monitoring.histogram import LogHistogram

LabelKey = tuple[tuple[str, str], ...]
HOST_FIGURES = {"cpu": "cpu_percent", "memory": "memory_percent", "disk": "disk_percent", "swap": "swap_percent",
                "load": "load_1", "net_sent": "net_sent_bytes_per_s", "net_recv": "net_recv_bytes_per_s",
                "disk_read": "disk_read_bytes_per_s", "disk_write": "disk_write_bytes_per_s",
                "process_cpu": "process_cpu_percent", "process_rss": "process_rss"}
# Host windows up to six hours read minute rollups (at most 360 rows per process); longer ones start with hours.
HOST_MINUTES_UP_TO = 6 * 3600
HOST_LEVELS = (("1m", "raw"), ("1h", "1m", "raw"))
MINUTE_ROLLUPS_KEPT = timedelta(days=Config.MINUTE_ROLLUP_RETENTION_DAYS)
PERCENTILES = ("p95", "p99")
ENDPOINT_FIGURES = {"p95": "p95_ms", "p99": "p99_ms", "avg": "avg_ms", "error_rate": "error_rate", "rps": "rps"}
BUSINESS_METRICS = ("revenue", "failure_rate", "transactions_per_minute", "active_users")
# Rollups are read at the finest bucket that keeps a window to at most this many buckets (1m below an hour).
MAX_BUCKETS_PER_WINDOW = 60


class SeriesError(ValueError):
    """A query this module cannot answer; `field` names the SPEC §9 field at fault."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field, self.reason = field_name, message


@dataclass(frozen=True)
class SeriesQuery:
    source: str
    metric: str
    filters: Mapping[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    aggregation: str = "avg"
    window_seconds: int = 60
    compare_offset_seconds: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", dict(self.filters or {}))
        object.__setattr__(self, "group_by", tuple(self.group_by or ()))
        if not self.window_seconds or self.window_seconds <= 0:
            raise SeriesError("window_seconds", "must be a positive number of seconds")
        if self.compare_offset_seconds is not None and self.compare_offset_seconds <= 0:
            raise SeriesError("compare_offset_seconds", "must be a positive number of seconds")

    def key(self) -> tuple:
        """Equal for queries that read the same series (filters are a dict, so the query itself is unhashable)."""
        return (self.source, self.metric, tuple(sorted(self.filters.items())), self.group_by, self.aggregation,
                self.window_seconds, self.compare_offset_seconds)

    @classmethod
    def of(cls, rule) -> "SeriesQuery":
        """The query of a rule: a model row or a mapping with SPEC §9's field names (other fields are ignored)."""
        get = rule.get if isinstance(rule, Mapping) else lambda name: getattr(rule, name, None)
        return cls(**{item.name: get(item.name) for item in fields(cls) if get(item.name) is not None})


@dataclass(frozen=True)
class SeriesValue:
    labels: dict[str, str]
    value: float | None  # the figure, or current/past when comparing; None is "no data"
    current: float | None = None  # the figure over the window ending now
    past: float | None = None  # the figure over the window compare_offset_seconds earlier


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime


@dataclass
class _MetricBatch:
    """The custom metrics of a pass read at one bucket size: which names, which need histograms, how far back."""
    names: set[str] = field(default_factory=set)
    percentile_names: set[str] = field(default_factory=set)
    window_seconds: int = 0


class _Rollup(NamedTuple):
    name: str
    bucket_start: datetime
    tags: dict
    count: int
    sum: float
    min: float
    max: float
    histogram: dict


class KeptHistograms:
    """Decoded histograms of custom metric rollups, kept from one pass to the next by row id and count (a row that
    gained points has a new count): a pass then fetches and decodes only the rows that changed, mostly the
    minutes in progress, instead of every histogram in its windows."""

    def __init__(self) -> None:
        self.previous: dict[int, tuple[int, dict]] = {}
        self.current: dict[int, tuple[int, dict]] = {}

    def attach(self, session: Session, rows: list) -> list[_Rollup]:
        """`rows` (metric_queries.rollup_figures) with their histograms, fetched only where not kept."""
        missing = [row.id for row in rows if self.previous.get(row.id, (None,))[0] != row.count]
        fetched = metric_queries.histograms(session, missing) if missing else {}
        attached = []
        for row in rows:
            histogram = fetched[row.id] if row.id in fetched else self.previous[row.id][1]
            self.current[row.id] = (row.count, histogram)
            attached.append(_Rollup(row.name, row.bucket_start, row.tags, row.count, row.sum, row.min, row.max,
                                    histogram))
        return attached

    def end_pass(self) -> None:
        """Keep what this pass read, and only that: rows that left every window are forgotten."""
        self.previous, self.current = self.current, {}


class Reads:
    """What one evaluation pass has read. Rules on the same series share one read, and the custom metrics of
    `queries` (the pass's rules) are read together: per bucket size, one query over the widest window (and one
    more, for the names some rule takes a percentile of, with histograms), rather than one query per rule."""

    def __init__(self, session: Session, runtime, queries: Iterable["SeriesQuery"] = (),
                 kept: KeptHistograms | None = None) -> None:
        self.session, self.runtime = session, runtime
        self.kept = kept or KeptHistograms()
        self.answers: dict[tuple, dict] = {}
        self.shared: dict[tuple, object] = {}  # reads several queries have in common, by what they depend on
        self.batches: dict[str, _MetricBatch] = defaultdict(_MetricBatch)
        self.batch_rows: dict[tuple, dict[str, list]] = {}
        queries = list(queries)
        self.host_windows: dict[tuple[str, ...], int] = {}
        for query in queries:
            if query.source == "host" and query.compare_offset_seconds is None:
                levels = _host_levels(query)
                self.host_windows[levels] = max(self.host_windows.get(levels, 0), query.window_seconds)
        self.endpoint_window = max((query.window_seconds for query in queries if query.source == "endpoint"
                                    and query.compare_offset_seconds is None), default=0)
        for query in queries:
            if query.source == "metric" and query.compare_offset_seconds is None:
                batch = self.batches[_metric_bucket(query)]
                batch.names.add(query.metric)
                if query.aggregation in PERCENTILES:
                    batch.percentile_names.add(query.metric)
                batch.window_seconds = max(batch.window_seconds, query.window_seconds)

    def once(self, key: tuple, compute: Callable[[], object]):
        """`compute()` the first time `key` is asked for in this pass, the same answer after that."""
        if key not in self.shared:
            self.shared[key] = compute()
        return self.shared[key]

    def read(self, query: "SeriesQuery", end: datetime, complete: bool) -> dict:
        key = (query.key(), end, complete)
        if key not in self.answers:
            self.answers[key] = _reader(query)(self, query, end, complete)
        return self.answers[key]

    def host_samples(self, span: "Span", levels: tuple[str, ...], host: str | None) -> list:
        """Host samples of the span, handed over between resolutions; read once for the pass's widest window."""
        widest = self.host_windows.get(levels)
        start = widest and floor_time(span.end - timedelta(seconds=widest), levels[0])
        if not widest or span.start < start:
            return _handed_over(_host_levels_read(self.session, span.start, span.end, levels, host), span.start, levels, host)
        found = self.once(("host samples", levels, start, span.end),
                          lambda: _host_levels_read(self.session, start, span.end, levels, None))
        return _handed_over(found, span.start, levels, host)

    def request_rollups(self, span: "Span") -> list | None:
        """Stored request rollups over the pass's widest endpoint window, when it holds `span` (None: read alone)."""
        widest = floor_time(span.end - timedelta(seconds=self.endpoint_window), "1m")
        if not self.endpoint_window or span.start < widest:
            return None
        return self.once(("request rollups", widest, span.end),
                         lambda: performance.stored_rows(self.session, widest, span.end))

    def metric_series(self, name: str, bucket: str, span: "Span", histograms: bool) -> list:
        """The metric's rollups over the span folded into one part per tag set, once for every rule that reads
        them: rules then go through a few parts instead of every bucket. Without histograms the database sums
        them, for every name of the batch at once."""
        batch = self.batches.get(bucket)
        if not histograms and batch is not None and name in batch.names:
            summed = self.once(("metric totals", bucket, span), lambda: self._totals(batch, bucket, span))
            return summed.get(name, [])
        return self.once(("metric", name, bucket, span, histograms),
                         lambda: _fold(self.metric_rollups(name, bucket, span, histograms), histograms))

    def _totals(self, batch: _MetricBatch, bucket: str, span: "Span") -> dict[str, list]:
        grouped: dict[str, list] = defaultdict(list)
        for row in metric_queries.totals(self.session, sorted(batch.names), bucket, span.start, span.end):
            grouped[row.name].append(row)
        return grouped

    def metric_rollups(self, name: str, bucket: str, span: "Span", histograms: bool) -> list:
        batch = self.batches.get(bucket)
        widest = batch and floor_time(span.end - timedelta(seconds=batch.window_seconds), bucket)
        if not histograms or batch is None or name not in batch.percentile_names or span.start < widest:
            return metric_queries.rollups(self.session, name, bucket, span.start, span.end, histograms)
        key = (bucket, span.end)
        if key not in self.batch_rows:
            figures = metric_queries.rollup_figures(self.session, sorted(batch.percentile_names), bucket, widest, span.end)
            grouped: dict[str, list] = defaultdict(list)
            for row in self.kept.attach(self.session, figures):
                grouped[row.name].append(row)
            self.batch_rows[key] = grouped
        return [row for row in self.batch_rows[key].get(name, ()) if row.bucket_start >= span.start]


@dataclass(frozen=True)
class _Folded:
    """Rollups of one tag set summed over a span, with the columns metric_queries.aggregate reads."""
    tags: dict
    count: int
    sum: float
    min: float
    max: float
    histogram: dict


def _fold(rows: list, histograms: bool) -> list[_Folded]:
    # Rows of one tag set share one tags dict (metric_queries.TagsFromKey), so its id groups them; should two
    # share tags in different dicts, they stay two parts, which aggregate the same.
    by_tags: dict[int, list] = defaultdict(list)
    for row in rows:
        by_tags[id(row.tags)].append(row)
    folded = []
    for parts in by_tags.values():
        # Stored histograms are {bucket: count} as to_dict writes them: adding them as they are costs a third of
        # rebuilding a LogHistogram of each, and aggregate reads the sum the same way.
        merged: dict[str, int] = {}
        for part in parts if histograms else ():
            for index, count in part.histogram.items():
                merged[index] = merged.get(index, 0) + count
        folded.append(_Folded(parts[0].tags, sum(part.count for part in parts), sum(part.sum for part in parts),
                              min(part.min for part in parts), max(part.max for part in parts), merged))
    return folded


def evaluate(session: Session, runtime, query: SeriesQuery, now: datetime, reads: Reads | None = None) -> list[SeriesValue]:
    """The value of `query`'s series at `now`, one per label set, sorted by labels. With compare_offset_seconds
    the value is current / past, the same window that much earlier (None when either is empty or past is 0).
    An evaluation pass passes its `reads`, so that rules share what they read."""
    _reader(query)
    reads = reads or Reads(session, runtime)
    if query.compare_offset_seconds is None:
        found = reads.read(query, now, False)
        return [SeriesValue(dict(key), value, value) for key, value in _with_nodata(query, found)]
    offset = timedelta(seconds=query.compare_offset_seconds)
    current = reads.read(query, now, True)
    past = reads.read(query, now - offset, True)
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
    return tuple((name, str(tags[name])) for name in sorted(names) if tags.get(name) is not None)


def _matches(tags: Mapping, filters: Mapping) -> bool:
    return all(str(tags.get(name)) == str(value) for name, value in filters.items())


def _span(end: datetime, query: SeriesQuery, bucket: str, complete: bool) -> Span:
    # Rollup buckets cannot be split, so the start is rounded down to a bucket boundary: the window then covers
    # at least window_seconds (at most one bucket more), never less, so a quiet series does not look empty
    # just after each boundary. The bucket in progress is read too, so a point counts as soon as it is stored.
    # A comparison instead ends both windows at the last complete bucket: the two spans are then equally long,
    # where a bucket in progress against a complete one would bias every ratio of sums or counts downwards.
    if complete:
        end = floor_time(end, bucket)
    return Span(floor_time(end - timedelta(seconds=query.window_seconds), bucket), end)


def _reaches_past_minute_rollups(query: SeriesQuery) -> bool:
    # Minute rollups are purged after MINUTE_ROLLUP_RETENTION_DAYS; a comparison further back reads hours.
    reach = (query.compare_offset_seconds or 0) + query.window_seconds
    return timedelta(seconds=reach) > MINUTE_ROLLUPS_KEPT - timedelta(hours=1)


def _finest_bucket(window_seconds: int) -> str:
    return next((bucket for bucket, seconds in BUCKET_SECONDS.items()
                 if window_seconds <= seconds * MAX_BUCKETS_PER_WINDOW), "1d")


def _metric_bucket(query: SeriesQuery) -> str:
    bucket = _finest_bucket(query.window_seconds)
    if _reaches_past_minute_rollups(query) and BUCKET_SECONDS[bucket] < BUCKET_SECONDS["1h"]:
        return "1h"
    return bucket


def _read_metric(reads: Reads, query: SeriesQuery, end: datetime, complete: bool) -> dict:
    """A custom metric's aggregate per label set, merged from the rollups (histograms for p95/p99)."""
    bucket = _metric_bucket(query)
    span = _span(end, query, bucket, complete)
    groups: dict[LabelKey, list] = defaultdict(list)
    percentile = query.aggregation in PERCENTILES
    for row in reads.metric_series(query.metric, bucket, span, histograms=percentile):
        if _matches(row.tags, query.filters):
            groups[_label_key(row.tags, query.group_by)].append(row)
    return {key: metric_queries.aggregate(query.aggregation, parts) for key, parts in groups.items()}


def _host_levels(query: SeriesQuery) -> tuple[str, ...]:
    coarse = query.window_seconds > HOST_MINUTES_UP_TO or _reaches_past_minute_rollups(query)
    return HOST_LEVELS[1] if coarse else HOST_LEVELS[0]


def _read_host(reads: Reads, query: SeriesQuery, end: datetime, complete: bool) -> dict:
    """A host figure per label set (`host`), over the samples of every process on that host. Rollups hold
    averages, so min, max (but cpu's, which keeps its peak) and percentiles are taken over minute averages."""
    levels = _host_levels(query)
    span = _span(end, query, levels[0], complete)
    figure = "cpu_max" if (query.metric, query.aggregation) == ("cpu", "max") else HOST_FIGURES[query.metric]
    host = query.filters.get("host")
    # Rules on other figures of the same hosts and span read the same samples: their figures are read once.
    samples = reads.once(("host", span, levels, host), lambda: [
        (row.host, host_sampler.figures(row), host_sampler.sample_weight(row))
        for row in reads.host_samples(span, levels, host)])
    groups: dict[LabelKey, list[tuple[float, int]]] = defaultdict(list)
    for name, figures, weight in samples:
        if figures[figure] is not None:
            groups[_label_key({"host": name}, query.group_by)].append((figures[figure], weight))
    return {key: _weighted(query.aggregation, values) for key, values in groups.items()}


# What host_sampler.figures and sample_weight read of a sample: rows of these, not whole ORM objects (a pass reads
# thousands of samples, and building an object of each was most of its host reads).
HOST_SAMPLE_COLUMNS = (HostSample.host, HostSample.resolution, HostSample.taken_at, HostSample.cpu_percent,
                       HostSample.memory_percent, HostSample.disk_percent, HostSample.data)


def _host_levels_read(session: Session, start: datetime, end: datetime, levels: tuple[str, ...],
                      host: str | None) -> dict[str, list]:
    found = {}
    for resolution in levels:
        query = select(*HOST_SAMPLE_COLUMNS).where(HostSample.resolution == resolution, HostSample.taken_at >= start,
                                                   HostSample.taken_at < end)
        if host is not None:
            query = query.where(HostSample.host == str(host))
        found[resolution] = session.execute(query).all()
    return found


def _handed_over(found: dict[str, list], start: datetime, levels: tuple[str, ...], host: str | None) -> list:
    # Coarsest rollups first, then each finer resolution after the newest row of the one before. The maintenance
    # job rolls every series up to the same period in one run, so that newest row marks the hand-over for all.
    rows: list = []
    since = start
    for resolution in levels:
        level = [row for row in found[resolution] if row.taken_at >= since and (host is None or row.host == str(host))]
        if level and resolution != "raw":
            since = max(row.taken_at for row in level) + timedelta(seconds=BUCKET_SECONDS[resolution])
        rows += level
    return rows


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
    span = _span(end, query, "1m", complete)
    by = tuple(sorted(query.group_by))
    # p95, error rate and rps of the same requests are figures of one set of stats: computed once, from the
    # rollups every endpoint rule of the pass shares.
    groups = reads.once(("endpoint", span, by, tuple(sorted(query.filters.items()))), lambda: performance.grouped_stats(
        reads.session, span.start, span.end, reads.runtime.monitor.snapshot_current(end.timestamp()), by, query.filters,
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
    if query.source == "endpoint" and _reaches_past_minute_rollups(query):
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
