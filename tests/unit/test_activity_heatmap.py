"""The activity heatmap's one GROUP BY, on SQLite and PostgreSQL: UTC hour × weekday cells, range and action filters."""
from datetime import UTC, datetime, timedelta, timezone

import pytest

from database import UserActivity
from services.analytics.activity_heatmap import DAYS_OF_WEEK, activity_heatmap

NOW = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)  # a Thursday
SINCE = NOW - timedelta(days=7)


@pytest.fixture
def session(any_db_session):
    return any_db_session


def add(session, *moments, action="page_view"):
    session.add_all(UserActivity(user_id="u1", action=action, occurred_at=moment) for moment in moments)
    session.flush()


def cell(heatmap, day, hour):
    return heatmap["matrix"][DAYS_OF_WEEK.index(day)][hour]


def test_activities_are_counted_in_their_utc_hour_and_weekday(session):
    add(session, datetime(2026, 11, 30, 9, 5, tzinfo=UTC), datetime(2026, 11, 30, 9, 59, tzinfo=UTC),  # Monday 09
        datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC),  # Sunday 23
        datetime(2026, 12, 3, 0, 0, tzinfo=UTC))  # Thursday 00
    heatmap = activity_heatmap(session, SINCE, NOW)
    assert (cell(heatmap, "Mon", 9), cell(heatmap, "Sun", 23), cell(heatmap, "Thu", 0)) == (2, 1, 1)
    assert (heatmap["total"], heatmap["max"], heatmap["timezone"]) == (4, 2, "UTC")
    assert [len(row) for row in heatmap["matrix"]] == [24] * 7


def test_a_time_given_in_another_zone_lands_in_its_utc_cell(session):
    add(session, datetime(2026, 12, 1, 1, 30, tzinfo=timezone(timedelta(hours=5))))  # Monday 20:30 UTC
    heatmap = activity_heatmap(session, SINCE, NOW)
    assert cell(heatmap, "Mon", 20) == 1 and heatmap["total"] == 1


def test_only_the_range_counts(session):
    add(session, SINCE - timedelta(seconds=1), SINCE, NOW - timedelta(seconds=1), NOW)
    assert activity_heatmap(session, SINCE, NOW)["total"] == 2


def test_an_action_filter_counts_only_that_action(session):
    add(session, NOW - timedelta(hours=1), action="login")
    add(session, NOW - timedelta(hours=1), NOW - timedelta(hours=2), action="purchase")
    heatmap = activity_heatmap(session, SINCE, NOW, action="purchase")
    assert (heatmap["total"], heatmap["action"], cell(heatmap, "Thu", 14), cell(heatmap, "Thu", 13)) == (2, "purchase", 1, 1)


def test_no_activity_is_an_empty_matrix(session):
    heatmap = activity_heatmap(session, SINCE, NOW)
    assert heatmap["matrix"] == [[0] * 24] * 7 and heatmap["max"] == 0
