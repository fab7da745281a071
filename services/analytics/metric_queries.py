"""Custom metric time series from the 1m/5m/1h/1d rollups, aggregated and optionally grouped by a tag."""
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import String, TypeDecorator, select, type_coerce
from sqlalchemy.orm import Session

from database import MetricRollup
from services.analytics.time_buckets import BUCKET_SECONDS, RangeError, floor_time
from services.monitoring.histogram import int_counts, percentile_across

AGGREGATIONS = ("avg", "sum", "count", "min", "max", "p95", "p99")
BUCKETS = tuple(BUCKET_SECONDS)
DEFAULT_POINTS = 60
MAX_POINTS = 2000


def query_range(bucket: str, start: datetime | None, end: datetime | None, now: datetime):
    """Default to the last 60 buckets; refuse reversed ranges and more than MAX_POINTS buckets."""
    step = timedelta(seconds=BUCKET_SECONDS[bucket])
    end = end or now
    start = start or end - DEFAULT_POINTS * step
    if start >= end:
        raise RangeError("start must be before end")
    if (end - start) / step > MAX_POINTS:
        raise RangeError(f"the range holds more than {MAX_POINTS} {bucket} buckets; use a larger bucket")
    return start, end


def series(session: Session, name: str, agg: str, bucket: str, start: datetime, end: datetime,
           group_by: str | None = None) -> dict:
    """One series per value of tag `group_by` (or a single series), with a point per bucket that has data."""
    rows = rollups(session, name, bucket, start, end)
    groups: dict[str | None, dict[datetime, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        group = row.tags.get(group_by) if group_by else None
        groups[group][row.bucket_start].append(row)
    return {"name": name, "agg": agg, "bucket": bucket, "start": start.isoformat(), "end": end.isoformat(),
            "group_by": group_by,
            "series": [{"group": group, "points": [{"ts": moment.isoformat(), "value": aggregate(agg, parts)}
                                                   for moment, parts in sorted(buckets.items())]}
                       for group, buckets in sorted(groups.items(), key=lambda item: str(item[0]))]}


class TagsFromKey(TypeDecorator):
    """A rollup's tags read from its canonical tags_key, decoded once per distinct tag set: a query returns
    thousands of rows of a few hundred sets, and decoding each row's JSON was most of an alert pass's time.
    The dicts are shared between rows: read them, never change them."""

    impl = String
    cache_ok = True

    def process_result_value(self, value, dialect):
        return _decoded_tags(value)


@lru_cache(maxsize=100_000)
def _decoded_tags(key: str | None) -> dict:
    return json.loads(key) if key else {}


NAMED_FIGURES = (MetricRollup.name, MetricRollup.bucket_start, type_coerce(MetricRollup.tags_key, TagsFromKey).label("tags"),
                 MetricRollup.count, MetricRollup.sum, MetricRollup.min, MetricRollup.max)


def rollups(session: Session, names: str | Iterable[str], bucket: str, start: datetime, end: datetime,
            histograms: bool = True) -> list:
    """The `bucket` rollups of metric `names` (one name or several; every tag set) from the bucket holding `start`
    up to `end`, as rows with `name` and the columns `aggregate` reads; without `histograms` (not needed but for
    percentiles) they read faster."""
    columns = (*NAMED_FIGURES, *((MetricRollup.histogram,) if histograms else ()))
    named = MetricRollup.name == names if isinstance(names, str) else MetricRollup.name.in_(names)
    return session.execute(select(*columns).where(
        named, MetricRollup.bucket == bucket,
        MetricRollup.bucket_start >= floor_time(start, bucket), MetricRollup.bucket_start < end)).all()


def aggregate(agg: str, parts: list) -> float:
    """Combine the rollups of one bucket (one per tag set) into the asked aggregate."""
    count = sum(part.count for part in parts)
    if agg == "count":
        return count
    if agg == "sum":
        return sum(part.sum for part in parts)
    if agg == "avg":
        return sum(part.sum for part in parts) / count
    if agg == "min":
        return min(part.min for part in parts)
    if agg == "max":
        return max(part.max for part in parts)
    return percentile_across((int_counts(part.histogram) for part in parts), 95 if agg == "p95" else 99)

