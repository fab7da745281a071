"""Annotations: the body validator field by field, the range and tag query, and what they answer."""
from datetime import UTC, datetime, timedelta

import pytest

from blueprints.http import EARLIEST_QUERY_TIME, LATEST_QUERY_TIME
from services.alerts.body_fields import FieldError
from services.analytics import annotations

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("body, field", [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": "   "}, "text"),
    ({"text": 5}, "text"),
    ({"text": "x" * 2001}, "text"),
    ({"text": "deploy", "tags": "web"}, "tags"),
    ({"text": "deploy", "tags": [1]}, "tags"),
    ({"text": "deploy", "tags": [""]}, "tags"),
    ({"text": "deploy", "tags": ["x" * 101]}, "tags"),
    ({"text": "deploy", "tags": [f"t{index}" for index in range(17)]}, "tags"),
    ({"text": "deploy", "time": "yesterday"}, "time"),
    ({"text": "deploy", "time": "2026-12-03T10:00:00"}, "time"),  # no zone
    ({"text": "deploy", "time": 1764756000}, "time"),
    ({"text": "deploy", "time": "1969-12-31T23:59:59Z"}, "time"),
    ({"text": "deploy", "time": "2100-01-01T00:00:01Z"}, "time"),
    ({"text": "deploy", "time": "0001-01-01T00:00:00+01:00"}, "time"),
    ({"text": "deploy", "time": "2026-12-03T10:00:00Z", "time_end": "2026-12-03T10:00:00Z"}, "time_end"),
    ({"text": "deploy", "time": "2026-12-03T10:00:00Z", "time_end": "2026-12-03T09:00:00Z"}, "time_end"),
    ({"text": "deploy", "time_end": "soon"}, "time_end"),
    ({"text": "deploy", "author": "ci"}, "author"),
])
def test_invalid_bodies_name_the_field(body, field):
    with pytest.raises(FieldError) as raised:
        annotations.read_fields(body, NOW)
    assert raised.value.field == field and str(raised.value)


def test_a_valid_body_is_read_with_defaults_and_in_utc():
    assert annotations.read_fields({"text": " deploy v1.4 "}, NOW) == {
        "text": "deploy v1.4", "tags": [], "time": NOW, "time_end": None}
    fields = annotations.read_fields({"text": "incident", "tags": ["db", " db ", "eu"],
                                      "time": "2026-12-03T13:00:00+01:00", "time_end": "2026-12-03T12:30:00Z"}, NOW)
    assert fields["tags"] == ["db", "eu"]
    assert fields["time"] == datetime(2026, 12, 3, 12, 0, tzinfo=UTC) and fields["time_end"] == NOW + timedelta(minutes=30)


def test_the_time_range_is_the_query_readers():
    assert (annotations.EARLIEST, annotations.LATEST) == (EARLIEST_QUERY_TIME, LATEST_QUERY_TIME)


def add(session, text, minutes_ago, tags=(), span_minutes=None):
    time = NOW - timedelta(minutes=minutes_ago)
    end = time + timedelta(minutes=span_minutes) if span_minutes else None
    return annotations.create(session, {"text": text, "tags": list(tags), "time": time, "time_end": end}, "ci")


def test_between_takes_what_touches_the_range_newest_first_and_filters_by_whole_tag(db_session):
    add(db_session, "too old", 300)
    add(db_session, "span into the range", 200, ["incident"], span_minutes=150)
    add(db_session, "deploy", 30, ["deploy", "web"])
    add(db_session, "tricky tags", 20, ['de"ploy', "deploy_x", "%"])
    add(db_session, "future", -30, ["deploy"])
    start, end = NOW - timedelta(hours=1), NOW
    texts = [item.text for item in annotations.between(db_session, start, end)]
    assert texts == ["tricky tags", "deploy", "span into the range"]
    assert [item.text for item in annotations.between(db_session, start, end, "deploy")] == ["deploy"]
    assert [item.text for item in annotations.between(db_session, start, end, 'de"ploy')] == ["tricky tags"]
    assert [item.text for item in annotations.between(db_session, start, end, "%")] == ["tricky tags"]
    assert annotations.between(db_session, start, end, "deplo") == []
    assert [item.text for item in annotations.between(db_session, start, end, limit=1)] == ["tricky tags"]


def test_as_dict(db_session):
    item = add(db_session, "span", 10, ["db"], span_minutes=5)
    assert annotations.as_dict(item) == {
        "id": item.id, "text": "span", "tags": ["db"], "time": "2026-12-03T11:50:00+00:00",
        "time_end": "2026-12-03T11:55:00+00:00", "created_by": "ci", "created_at": item.created_at.isoformat()}
