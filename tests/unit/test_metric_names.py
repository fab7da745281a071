"""services.analytics.metric_names and explorer_series on rollups written by the real ingest writer, on SQLite and
PostgreSQL."""
from datetime import UTC, datetime, timedelta

import pytest

from services.analytics import explorer_series, metric_names
from services.analytics.time_buckets import RangeError
from services.ingest import event_schema, writer

NOW = datetime(2026, 3, 4, 10, 20, 30, tzinfo=UTC)


@pytest.fixture
def db_session(any_db_session):
    return any_db_session


def store(session, points):
    rows, errors = event_schema.parse_batch({"metrics": points}, NOW)
    assert errors == []
    writer.store_batch(session, rows)
    session.commit()


def point(name, value, at, **tags):
    return {"name": name, "value": value, "timestamp": at.isoformat(), "tags": tags}


def test_names_with_top_tag_values_recent_points_and_last_seen(db_session):
    store(db_session, [point("latency", 1, NOW - timedelta(minutes=n), region=region, host=f"h{n % 7}")
                       for n, region in enumerate(["eu"] * 5 + ["us"] * 3 + ["ap"])]
          + [point("latency", 1, NOW - timedelta(hours=3), region="sa", host="h0")]
          + [point("queue.depth", 4, NOW - timedelta(hours=2))]
          + [point("ancient", 1, NOW - timedelta(hours=30))])
    body = metric_names.metric_names(db_session, NOW)
    assert [entry["name"] for entry in body["names"]] == ["latency", "queue.depth"]  # newest first; a day back only
    latency, queue = body["names"]
    assert latency["tags"]["region"] == [{"value": "eu", "points": 5}, {"value": "us", "points": 3},
                                         {"value": "ap", "points": 1}, {"value": "sa", "points": 1}]
    assert len(latency["tags"]["host"]) == metric_names.TOP_VALUES  # 7 hosts, the 5 most frequent
    assert latency["tags"]["host"][0] == {"value": "h0", "points": 3}
    assert latency["points_last_hour"] == 9
    assert latency["last_seen"] == "2026-03-04T10:20:00+00:00"
    assert queue == {"name": "queue.depth", "tags": {}, "points_last_hour": 0, "last_seen": "2026-03-04T08:00:00+00:00"}
    assert body["truncated"] is False


def test_names_are_bounded(db_session):
    store(db_session, [point(f"m{n}", 1, NOW - timedelta(minutes=n)) for n in range(5)])
    body = metric_names.metric_names(db_session, NOW, limit=3)
    assert len(body["names"]) == 3 and body["truncated"] is True
    assert metric_names.metric_names(db_session, NOW + timedelta(days=2)) == {
        "since": (NOW + timedelta(days=1)).isoformat(), "truncated": False, "names": []}


def test_series_filters_groups_top_lines_and_other(db_session):
    minute = NOW.replace(second=0) - timedelta(minutes=2)
    points = [point("lat", value, minute + timedelta(seconds=index), region=region, tier=tier)
              for index, (value, region, tier) in enumerate(
                  [(10, "eu", "web"), (20, "eu", "web"), (30, "us", "web"), (40, "ap", "web"), (50, "sa", "web"),
                   (99, "eu", "batch")])]
    store(db_session, points)
    body = explorer_series.explorer_series(db_session, NOW, "lat", "sum", 15, None, {"tier": "web"}, "region", top=2)
    assert body["bucket"] == "1m"
    lines = [(line["group"], line["other"], [p["value"] for p in line["points"]]) for line in body["series"]]
    assert lines == [("eu", False, [30]), ("ap", False, [40]), (None, True, [80])]  # ties broken by value, other last
    [other] = [line for line in body["series"] if line["other"]]
    assert other["points"] == [{"ts": minute.isoformat(), "value": 80, "count": 2, "sum": 80, "min": 30, "max": 50}]
    p99 = explorer_series.explorer_series(db_session, NOW, "lat", "p99", 15, "1m", {}, None)["series"][0]["points"][0]
    assert 99 * 0.94 <= p99["value"] <= 99 * 1.06 and p99["count"] == 6


@pytest.mark.parametrize("minutes, bucket", [(15, "1m"), (60, "1m"), (360, "5m"), (1440, "5m"), (10080, "1h")])
def test_auto_bucket_by_range(minutes, bucket):
    assert explorer_series.auto_bucket(minutes) == bucket


def test_series_refuses_too_many_buckets(db_session):
    with pytest.raises(RangeError):
        explorer_series.explorer_series(db_session, NOW, "lat", "avg", 10080, "1m", {}, None)
