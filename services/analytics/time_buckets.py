"""Time bucketing shared by rollups and queries, done in Python so it is the same on every database."""
import json
from datetime import UTC, datetime, timedelta

BUCKET_SECONDS = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}
METRIC_BUCKETS = tuple(BUCKET_SECONDS)
EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)


class RangeError(ValueError):
    """A time range a query cannot answer (reversed, or too many buckets)."""


def floor_time(moment: datetime, bucket: str) -> datetime:
    """The start of the UTC bucket ("1m", "5m", "1h", "1d" or "1w", weeks from Monday) holding `moment`."""
    if bucket == "1w":
        days = (moment - EPOCH_MONDAY).days // 7 * 7
        return EPOCH_MONDAY + timedelta(days=days)
    seconds = BUCKET_SECONDS[bucket]
    stamp = int(moment.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(stamp, UTC)


def bucket_starts(start: datetime, end: datetime, bucket: str) -> list[datetime]:
    """Every bucket start from the one holding `start` up to (not including) `end`."""
    step = timedelta(weeks=1) if bucket == "1w" else timedelta(seconds=BUCKET_SECONDS[bucket])
    current, starts = floor_time(start, bucket), []
    while current < end:
        starts.append(current)
        current += step
    return starts


def tags_key(tags: dict[str, str]) -> str:
    """A canonical string for a tag set, so equal sets share one rollup series."""
    return json.dumps(tags, sort_keys=True, separators=(",", ":")) if tags else ""
