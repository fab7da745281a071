"""GET /admin/api/analytics/activity-heatmap answers the 7 × 24 matrix of what was ingested, in UTC."""
from datetime import UTC, datetime, timedelta

import pytest

from services.analytics.time_buckets import floor_time

URL = "/admin/api/analytics/activity-heatmap"
HOUR = floor_time(datetime.now(UTC), "1h")


def activity(action, at):
    return {"user_id": "u-1", "action": action, "timestamp": at.isoformat()}


def cell(body, moment):
    return body["matrix"][moment.weekday()][moment.hour]


@pytest.fixture
def ingested(send):
    """Two logins an hour ago, a purchase three days ago, a login ten days ago."""
    an_hour_ago, three_days_ago = HOUR - timedelta(hours=1), HOUR - timedelta(days=3)
    response = send({"activities": [activity("login", an_hour_ago), activity("login", an_hour_ago + timedelta(minutes=30)),
                                    activity("purchase", three_days_ago), activity("login", HOUR - timedelta(days=10))]})
    assert response.json["accepted"] == 4
    return an_hour_ago, three_days_ago


def test_the_last_seven_days_by_default(ingested, admin, client):
    an_hour_ago, three_days_ago = ingested
    body = client.get(URL).json
    assert (body["timezone"], body["total"], body["max"]) == ("UTC", 3, 2)
    assert (cell(body, an_hour_ago), cell(body, three_days_ago)) == (2, 1)
    assert body["days_of_week"][0] == "Mon" and [len(row) for row in body["matrix"]] == [24] * 7


def test_days_and_action_narrow_it(ingested, admin, client):
    assert client.get(URL, query_string={"days": 30}).json["total"] == 4
    body = client.get(URL, query_string={"action": "purchase"}).json
    assert (body["total"], body["action"], cell(body, ingested[1])) == (1, "purchase", 1)


def test_new_activity_is_counted_at_once(ingested, admin, client, send):
    assert client.get(URL).json["total"] == 3  # now cached
    send({"activities": [activity("login", HOUR)]})
    assert client.get(URL).json["total"] == 4


@pytest.mark.parametrize("query", [{"days": 0}, {"days": 367}, {"days": "week"}, {"action": "x" * 65}])
def test_bad_parameters_are_refused(admin, client, query):
    response = client.get(URL, query_string=query)
    assert response.status_code == 400 and response.json["error"]["details"]["parameter"] in query


def test_viewers_may_read_it_and_anonymous_may_not(auth, client):
    assert client.get(URL).status_code == 401
    auth.login_viewer()
    assert client.get(URL).status_code == 200
