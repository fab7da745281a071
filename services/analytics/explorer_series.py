"""The metric explorer's series: metric_queries' rollups narrowed by tag filters, one line per value of a tag (the
`top` most frequent, the rest merged into one "other" line), each point with the count, sum, min and max that let a
page fold pushed points into its newest bucket exactly."""
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.analytics.metric_queries import aggregate, query_range, rollups
from services.analytics.time_buckets import BUCKET_SECONDS

RANGE_MINUTES = (15, 60, 360, 1440, 10080)
MAX_RANGE_MINUTES = RANGE_MINUTES[-1]
# The bucket a range gets when none is asked: the smallest that draws it in at most this many points.
AUTO_POINTS = 300
TOP_LINES = 8
MAX_FILTERS = 16


def auto_bucket(minutes: int) -> str:
    return next((bucket for bucket, seconds in BUCKET_SECONDS.items() if minutes * 60 / seconds <= AUTO_POINTS), "1d")


def explorer_series(session: Session, now: datetime, name: str, agg: str, minutes: int, bucket: str | None,
                    filters: dict[str, str], group_by: str | None, top: int = TOP_LINES) -> dict:
    """{"name", "agg", "bucket", "start", "end", "group_by", "filters", "series": [{group, other, points}]}; a
    range holding too many buckets raises RangeError. Lines are ordered by points, most first, "other" last."""
    bucket = bucket or auto_bucket(minutes)
    start, end = query_range(bucket, now - timedelta(minutes=minutes), now, now)
    rows = [row for row in rollups(session, name, bucket, start, end, histograms=agg in ("p95", "p99"))
            if all(row.tags.get(key) == value for key, value in filters.items())]
    weights: Counter = Counter()
    for row in rows:
        weights[row.tags.get(group_by) if group_by else None] += row.count
    kept = {group for group, _ in sorted(weights.items(), key=lambda item: (-item[1], str(item[0])))[:top]}
    lines: dict[tuple, dict[datetime, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        group = row.tags.get(group_by) if group_by else None
        lines[(False, group) if group in kept else (True, None)][row.bucket_start].append(row)
    ordered = sorted(lines.items(), key=lambda item: (item[0][0], -weights.get(item[0][1], 0), str(item[0][1])))
    return {"name": name, "agg": agg, "bucket": bucket, "minutes": minutes, "start": start.isoformat(),
            "end": end.isoformat(), "group_by": group_by, "filters": filters,
            "series": [{"group": group, "other": other, "points": [point(agg, moment, parts)
                                                                   for moment, parts in sorted(buckets.items())]}
                       for (other, group), buckets in ordered]}


def point(agg: str, moment: datetime, parts: list) -> dict:
    return {"ts": moment.isoformat(), "value": aggregate(agg, parts), "count": sum(part.count for part in parts),
            "sum": sum(part.sum for part in parts), "min": min(part.min for part in parts),
            "max": max(part.max for part in parts)}
