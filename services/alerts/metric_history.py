"""Custom metric rollups kept from one evaluation pass to the next, so that a pass reads only what changed.

Between two passes (seconds apart) the rollups of complete buckets almost never change: only the bucket in
progress gains points. So for each bucket size the pass's rules read at, the history keeps every complete
bucket of the widest window, each with a fingerprint (its row count and its points), and a pass asks the
database for the fingerprints alone, loads again only the buckets whose fingerprint moved (a late point, a new
bucket), and reads the bucket in progress afresh. What a rule reads is then its window's complete buckets
folded once per tag set (kept as long as those buckets do not change) plus the bucket in progress.

A point counts never goes down and a bucket's rows are only added to, so (rows, sum of counts) changes with
every write to a bucket; the fingerprint kept is counted from the rows loaded, never from an earlier query.
"""
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import case, func, null, select, type_coerce
from sqlalchemy.orm import Session

from database import MetricRollup
from services.alerts.series_query import Span
from services.analytics import metric_queries
from services.analytics.time_buckets import floor_time


@dataclass(frozen=True)
class Folded:
    """Rollups of one tag set summed over a span, with the columns metric_queries.aggregate reads."""
    tags: dict
    count: int
    sum: float
    min: float
    max: float
    histogram: dict[int, int] | None  # bucket index: count, when a percentile needs it


class _Part(NamedTuple):
    """One stored rollup row, its histogram decoded once (bucket index: count) when a percentile needs it."""
    name: str
    tags: dict
    count: int
    sum: float
    min: float
    max: float
    histogram: dict[int, int] | None


class _Bucket(NamedTuple):
    fingerprint: tuple[int, int]
    parts: dict[str, list[_Part]]  # by metric name


@dataclass
class _Kept:
    """The complete buckets of one bucket size over the widest window its rules read, and what was folded of them."""
    names: frozenset[str]
    percentile_names: frozenset[str]
    start: datetime | None = None
    current_start: datetime | None = None
    now: datetime | None = None
    complete: dict[datetime, _Bucket] = field(default_factory=dict)
    in_progress: dict[str, list[_Part]] = field(default_factory=dict)
    folds: dict[tuple, tuple[tuple, dict]] = field(default_factory=dict)
    used: set[tuple] = field(default_factory=set)


class MetricHistory:
    def __init__(self) -> None:
        self.kept: dict[str, _Kept] = {}

    def refresh(self, session: Session, bucket: str, names: Iterable[str], percentile_names: Iterable[str],
                window_seconds: int, now: datetime) -> None:
        """Bring `bucket`'s history up to `now` for a window of `window_seconds`: fingerprints first, then only
        the buckets that moved, and the bucket in progress."""
        names, percentile_names = frozenset(names), frozenset(percentile_names)
        kept = self.kept.get(bucket)
        if kept is None or (kept.names, kept.percentile_names) != (names, percentile_names):
            kept = self.kept[bucket] = _Kept(names, percentile_names)
        kept.start, kept.current_start, kept.now = (floor_time(now - timedelta(seconds=window_seconds), bucket),
                                                    floor_time(now, bucket), now)
        fingerprints = dict((moment, (rows, points or 0)) for moment, rows, points in session.execute(
            select(MetricRollup.bucket_start, func.count(), func.sum(MetricRollup.count))
            .where(MetricRollup.name.in_(sorted(names)), MetricRollup.bucket == bucket,
                   MetricRollup.bucket_start >= kept.start, MetricRollup.bucket_start < kept.current_start)
            .group_by(MetricRollup.bucket_start)))
        kept.complete = {moment: held for moment, held in kept.complete.items()
                         if fingerprints.get(moment) == held.fingerprint}
        moved = [moment for moment in fingerprints if moment not in kept.complete]
        loaded = _load(session, kept, bucket, moved)
        for moment in moved:
            parts = loaded.get(moment, {})
            fingerprint = (sum(len(rows) for rows in parts.values()),
                           sum(part.count for rows in parts.values() for part in rows))
            kept.complete[moment] = _Bucket(fingerprint, parts)
        kept.in_progress = defaultdict(list)
        for moment, parts in loaded.items():
            if moment >= kept.current_start:
                for name, rows in parts.items():
                    kept.in_progress[name] += rows

    def series(self, name: str, bucket: str, span: Span, histograms: bool) -> list[Folded] | None:
        """`name`'s rollups over `span` folded per tag set, or None when the history does not hold that span (the
        caller then reads the database)."""
        kept = self.kept.get(bucket)
        if (kept is None or kept.now is None or name not in kept.names or span.start < kept.start
                or span.end not in (kept.now, kept.current_start)
                or (histograms and name not in kept.percentile_names)):
            return None
        moments = sorted(moment for moment in kept.complete if span.start <= moment < kept.current_start)
        versions = tuple((moment, kept.complete[moment].fingerprint) for moment in moments)
        key = (name, span.start, histograms)
        kept.used.add(key)
        held = kept.folds.get(key)
        if held is None or held[0] != versions:
            held = kept.folds[key] = (versions, _fold(
                (part for moment in moments for part in kept.complete[moment].parts.get(name, ())), histograms))
        complete = list(held[1].values())
        if span.end <= kept.current_start:
            return complete
        # The bucket in progress stays parts of its own: rules group parts by labels and aggregate adds them up,
        # which costs less than folding it onto a copy of every complete fold each pass.
        return complete + [Folded(part.tags, part.count, part.sum, part.min, part.max, part.histogram if histograms else None)
                           for part in kept.in_progress.get(name, ())]

    def end_pass(self) -> None:
        """Forget the folds no rule read in this pass (their windows moved on)."""
        for kept in self.kept.values():
            kept.folds = {key: value for key, value in kept.folds.items() if key in kept.used}
            kept.used = set()


def _load(session: Session, kept: _Kept, bucket: str, moments: list[datetime]) -> dict[datetime, dict[str, list[_Part]]]:
    """The rows of the `moments` buckets and of the bucket in progress, with histograms for percentile names."""
    when = MetricRollup.bucket_start >= kept.current_start
    if moments:
        when = when | MetricRollup.bucket_start.in_(moments)
    # Histograms only of the names a percentile reads: the others' would be decoded for nothing.
    histogram = type_coerce(case((MetricRollup.name.in_(sorted(kept.percentile_names)), MetricRollup.histogram)),
                            MetricRollup.histogram.type) if kept.percentile_names else null()
    rows = session.execute(select(*metric_queries.NAMED_FIGURES, histogram.label("histogram")).where(
        MetricRollup.name.in_(sorted(kept.names)), MetricRollup.bucket == bucket, when)).all()
    loaded: dict[datetime, dict[str, list[_Part]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        loaded[row.bucket_start][row.name].append(_part(row, row.histogram))
    return loaded


def _part(row, histogram: dict | None) -> _Part:
    return _Part(row.name, row.tags, row.count, row.sum, row.min, row.max,
                 None if histogram is None else {int(index): count for index, count in histogram.items()})


def fold_rows(rows: list, histograms: bool) -> list[Folded]:
    """Rows of metric_queries.rollups (read outside the history) folded per tag set, as `series` answers."""
    return list(_fold((_part(row, row.histogram if histograms else None) for row in rows), histograms).values())


def _fold(parts: Iterable[_Part], histograms: bool) -> dict[int, Folded]:
    """Sum `parts` per tag set."""
    # Rows of one tag set share one tags dict (metric_queries.TagsFromKey), so its id groups them; should two
    # share tags in different dicts, they stay two parts, which aggregate the same.
    sums: dict[int, list] = {}
    for part in parts:
        entry = sums.get(id(part.tags))
        if entry is None:
            entry = sums[id(part.tags)] = [part.tags, 0, 0.0, part.min, part.max, {} if histograms else None]
        entry[1] += part.count
        entry[2] += part.sum
        entry[3], entry[4] = min(entry[3], part.min), max(entry[4], part.max)
        if histograms and part.histogram:
            merged = entry[5]
            for index, count in part.histogram.items():
                merged[index] = merged.get(index, 0) + count
    return {key: Folded(*entry) for key, entry in sums.items()}
