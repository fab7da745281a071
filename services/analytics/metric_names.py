"""The custom metric names seen lately, for the explorer's pickers: per name its tag keys with their most frequent
values, its points in the last hour and when it was last seen. Read from rollups only (hour rollups for a day of
names and tags, minute rollups for the last hour), never from raw points, and bounded however many series exist."""
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from database import MetricRollup

LOOKBACK = timedelta(hours=24)
MAX_NAMES = 500
MAX_TAG_KEYS = 16  # a point carries at most 16 tags (services.ingest.event_schema.MAX_TAGS)
TOP_VALUES = 5


def metric_names(session: Session, now: datetime, limit: int = MAX_NAMES) -> dict:
    """{"since", "names": [{name, tags: {key: [{value, points}]}, points_last_hour, last_seen}], "truncated"};
    the most recently seen names first, at most `limit` of them."""
    since = now - LOOKBACK
    latest = func.max(MetricRollup.bucket_start)
    ranked = session.execute(
        select(MetricRollup.name, latest).where(MetricRollup.bucket == "1h", MetricRollup.bucket_start >= since)
        .group_by(MetricRollup.name)
        .order_by(latest.desc(), func.sum(MetricRollup.count).desc(), MetricRollup.name)
        .limit(limit + 1)).all()
    names = [name for name, _ in ranked[:limit]]
    tags = tag_values(session, names, since)
    recent = last_hour(session, names, now)
    # A name quiet for the last hour was last seen in the newest hour holding one of its points.
    return {"since": since.isoformat(), "truncated": len(ranked) > limit,
            "names": [{"name": name, "tags": tags.get(name, {}), "points_last_hour": recent.get(name, (0, None))[0],
                       "last_seen": recent.get(name, (0, None))[1] or hour.isoformat()}
                      for name, hour in ranked[:limit]]}


def tag_values(session: Session, names: list[str], since: datetime) -> dict[str, dict[str, list[dict]]]:
    """Per name, its most frequent tag keys (by points carrying them), each with its TOP_VALUES values by points."""
    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    rows = session.execute(
        select(MetricRollup.name, MetricRollup.tags_key, func.sum(MetricRollup.count))
        .where(MetricRollup.name.in_(names), MetricRollup.bucket == "1h", MetricRollup.bucket_start >= since)
        .group_by(MetricRollup.name, MetricRollup.tags_key)) if names else []
    for name, key, points in rows:
        for tag, value in (json.loads(key) if key else {}).items():
            counts[name][tag][value] += int(points)
    return {name: {tag: [{"value": value, "points": points} for value, points in _top(values, TOP_VALUES)]
                   for tag, values in sorted(_top_keys(by_tag), key=lambda item: item[0])}
            for name, by_tag in counts.items()}


def _top(counter: Counter, limit: int) -> list[tuple[str, int]]:
    """The `limit` most frequent entries, ties broken by value so the answer does not depend on row order."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _top_keys(by_tag: dict[str, Counter]) -> list[tuple[str, Counter]]:
    return sorted(by_tag.items(), key=lambda item: (-item[1].total(), item[0]))[:MAX_TAG_KEYS]


def last_hour(session: Session, names: list[str], now: datetime) -> dict[str, tuple[int, str]]:
    """Per name seen in the last hour: its points there and the start of the newest minute holding one."""
    if not names:
        return {}
    rows = session.execute(
        select(MetricRollup.name, func.sum(MetricRollup.count), func.max(MetricRollup.bucket_start))
        .where(MetricRollup.name.in_(names), MetricRollup.bucket == "1m",
               MetricRollup.bucket_start >= now - timedelta(hours=1))
        .group_by(MetricRollup.name))
    return {name: (int(points), latest.isoformat()) for name, points, latest in rows}
