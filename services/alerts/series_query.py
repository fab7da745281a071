"""What an alert rule's series query is, and which rollups and span answer it: the query's fields (SPEC §9 names),
its value per label set, and the bucket, span and host resolutions a window is read at."""
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import lru_cache

from config import Config
from services.analytics.time_buckets import BUCKET_SECONDS, floor_time

LabelKey = tuple[tuple[str, str], ...]
# Host windows up to six hours read minute rollups (at most 360 rows per process); longer ones start with hours.
HOST_MINUTES_UP_TO = 6 * 3600
HOST_LEVELS = (("1m", "raw"), ("1h", "1m", "raw"))
MINUTE_ROLLUPS_KEPT = timedelta(days=Config.MINUTE_ROLLUP_RETENTION_DAYS)
PERCENTILES = ("p95", "p99")
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


def window_span(end: datetime, query: SeriesQuery, bucket: str, complete: bool) -> Span:
    # Rollup buckets cannot be split, so the start is rounded down to a bucket boundary: the window then covers
    # at least window_seconds (at most one bucket more), never less, so a quiet series does not look empty
    # just after each boundary. The bucket in progress is read too, so a point counts as soon as it is stored.
    # A comparison instead ends both windows at the last complete bucket: the two spans are then equally long,
    # where a bucket in progress against a complete one would bias every ratio of sums or counts downwards.
    if complete:
        end = floor_time(end, bucket)
    return Span(floor_time(end - timedelta(seconds=query.window_seconds), bucket), end)


def reaches_past_minute_rollups(query: SeriesQuery) -> bool:
    return _reaches_past_minute_rollups(query.window_seconds, query.compare_offset_seconds)


def _reaches_past_minute_rollups(window_seconds: int, compare_offset_seconds: int | None) -> bool:
    # Minute rollups are purged after MINUTE_ROLLUP_RETENTION_DAYS; a comparison further back reads hours.
    return timedelta(seconds=(compare_offset_seconds or 0) + window_seconds) > MINUTE_ROLLUPS_KEPT - timedelta(hours=1)


def finest_bucket(window_seconds: int) -> str:
    return next((bucket for bucket, seconds in BUCKET_SECONDS.items()
                 if window_seconds <= seconds * MAX_BUCKETS_PER_WINDOW), "1d")


def metric_bucket(query: SeriesQuery) -> str:
    return _metric_bucket(query.window_seconds, query.compare_offset_seconds)


@lru_cache(maxsize=4096)  # a pass asks for every rule's, and rules share a few windows
def _metric_bucket(window_seconds: int, compare_offset_seconds: int | None) -> str:
    bucket = finest_bucket(window_seconds)
    if _reaches_past_minute_rollups(window_seconds, compare_offset_seconds) and BUCKET_SECONDS[bucket] < BUCKET_SECONDS["1h"]:
        return "1h"
    return bucket


def host_levels(query: SeriesQuery) -> tuple[str, ...]:
    coarse = query.window_seconds > HOST_MINUTES_UP_TO or reaches_past_minute_rollups(query)
    return HOST_LEVELS[1] if coarse else HOST_LEVELS[0]
