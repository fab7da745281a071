"""What one evaluation pass reads, shared between its rules: custom metrics batched per bucket size (summed by the
database, or with histograms kept between passes for percentiles), host samples and request rollups read once
over the widest window; each read at most once per pass."""
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import HostSample
from services.alerts.series_query import PERCENTILES, SeriesQuery, Span, host_levels, metric_bucket
from services.analytics import metric_queries
from services.analytics.time_buckets import BUCKET_SECONDS, floor_time
from services.monitoring import performance


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
                levels = host_levels(query)
                self.host_windows[levels] = max(self.host_windows.get(levels, 0), query.window_seconds)
        self.endpoint_window = max((query.window_seconds for query in queries if query.source == "endpoint"
                                    and query.compare_offset_seconds is None), default=0)
        for query in queries:
            if query.source == "metric" and query.compare_offset_seconds is None:
                batch = self.batches[metric_bucket(query)]
                batch.names.add(query.metric)
                if query.aggregation in PERCENTILES:
                    batch.percentile_names.add(query.metric)
                batch.window_seconds = max(batch.window_seconds, query.window_seconds)

    def once(self, key: tuple, compute: Callable[[], object]):
        """`compute()` the first time `key` is asked for in this pass, the same answer after that."""
        if key not in self.shared:
            self.shared[key] = compute()
        return self.shared[key]

    def read(self, reader: Callable, query: SeriesQuery, end: datetime, complete: bool) -> dict:
        """`reader(self, query, end, complete)`, once per query and end in this pass."""
        key = (query.key(), end, complete)
        if key not in self.answers:
            self.answers[key] = reader(self, query, end, complete)
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
