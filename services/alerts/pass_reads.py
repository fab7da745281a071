"""What one evaluation pass reads, shared between its rules: custom metrics from the history kept between passes
(metric_history), host samples and request rollups read once over the widest window; each read at most once per
pass."""
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import HostSample
from services.alerts.metric_history import MetricHistory, fold_rows
from services.alerts.series_query import PERCENTILES, SeriesQuery, Span, host_levels, metric_bucket
from services.analytics import metric_queries
from services.analytics.time_buckets import BUCKET_SECONDS, floor_time
from services.monitoring import host_sampler, performance
from services.monitoring.histogram import int_counts


@dataclass
class _MetricBatch:
    """The custom metrics of a pass read at one bucket size: which names, which need histograms, how far back."""
    names: set[str] = field(default_factory=set)
    percentile_names: set[str] = field(default_factory=set)
    window_seconds: int = 0


class Reads:
    """What one evaluation pass has read. Rules on the same series share one read, and the custom metrics of
    `queries` (the pass's rules) come from `history`, brought up to date once per bucket size for the widest
    window, rather than from one query per rule."""

    def __init__(self, session: Session, runtime, queries: Iterable["SeriesQuery"] = (),
                 history: MetricHistory | None = None, now: datetime | None = None) -> None:
        self.session, self.runtime, self.now = session, runtime, now
        self.history = history or MetricHistory()
        self.answers: dict[tuple, dict] = {}
        self.shared: dict[tuple, object] = {}  # reads several queries have in common, by what they depend on
        self.batches: dict[str, _MetricBatch] = defaultdict(_MetricBatch)
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
        # Histograms decoded once here rather than in each of the pass's endpoint groupings that add them up.
        return self.once(("request rollups", widest, span.end), lambda: [
            {**row, "histogram": int_counts(row["histogram"])}
            for row in performance.stored_rows(self.session, widest, span.end)])

    def metric_series(self, name: str, bucket: str, span: "Span", histograms: bool) -> list:
        """The metric's rollups over the span folded into one part per tag set, once for every rule that reads
        them: rules then go through a few parts instead of every bucket."""
        return self.once(("metric", name, bucket, span, histograms),
                         lambda: self._metric_series(name, bucket, span, histograms))

    def _metric_series(self, name: str, bucket: str, span: "Span", histograms: bool) -> list:
        batch = self.batches.get(bucket)
        if batch is not None and self.now is not None:
            self.once(("metric history", bucket), lambda: self.history.refresh(
                self.session, bucket, batch.names, batch.percentile_names, batch.window_seconds, self.now))
            served = self.history.series(name, bucket, span, histograms)
            if served is not None:
                return served
        return fold_rows(metric_queries.rollups(self.session, name, bucket, span.start, span.end, histograms), histograms)


class HostReading(NamedTuple):
    """A host sample or rollup as rules read it: its figures worked out once, whichever windows hold it."""
    host: str
    taken_at: datetime
    figures: dict[str, float | None]
    weight: int


# What host_sampler.figures and sample_weight read of a sample: rows of these, not whole ORM objects (a pass reads
# thousands of samples, and building an object of each was most of its host reads).
HOST_SAMPLE_COLUMNS = (HostSample.host, HostSample.resolution, HostSample.taken_at, HostSample.cpu_percent,
                       HostSample.memory_percent, HostSample.disk_percent, HostSample.data)


def _host_levels_read(session: Session, start: datetime, end: datetime, levels: tuple[str, ...],
                      host: str | None) -> dict[str, list]:
    # Each finer resolution only from where the coarser one hands over (as _handed_over does): raw samples a
    # minute rollup already stands for would be read, decoded and dropped, hundreds of them in every pass.
    found = {}
    since = start
    for resolution in levels:
        query = select(*HOST_SAMPLE_COLUMNS).where(HostSample.resolution == resolution, HostSample.taken_at >= since,
                                                   HostSample.taken_at < end)
        if host is not None:
            query = query.where(HostSample.host == str(host))
        found[resolution] = [HostReading(row.host, row.taken_at, host_sampler.figures(row), host_sampler.sample_weight(row))
                             for row in session.execute(query)]
        if found[resolution] and resolution != "raw":
            since = max(row.taken_at for row in found[resolution]) + timedelta(seconds=BUCKET_SECONDS[resolution])
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
