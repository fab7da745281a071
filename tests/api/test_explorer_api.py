"""The metric explorer's endpoints: names seen and explorer series, answered from ingested points, cached and
refreshed by ingest; pins kept per user."""
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from services.analytics.time_buckets import floor_time
from services.openapi import spec

NOW = datetime.now(UTC)


def points(name, values, **tags):
    minute = floor_time(NOW, "1m") - timedelta(minutes=1)
    return [{"name": name, "value": value, "tags": tags, "timestamp": (minute + timedelta(seconds=n)).isoformat()}
            for n, value in enumerate(values)]


def test_names_list_what_was_ingested_and_follow_new_ingest(send, admin, client):
    send({"metrics": points("checkout.latency_ms", [10, 20], region="eu") + points("checkout.latency_ms", [30], region="us")})
    [entry] = client.get("/admin/api/metrics/names").json["names"]
    assert entry["name"] == "checkout.latency_ms" and entry["points_last_hour"] == 3
    assert entry["tags"] == {"region": [{"value": "eu", "points": 2}, {"value": "us", "points": 1}]}
    assert entry["last_seen"] == (floor_time(NOW, "1m") - timedelta(minutes=1)).isoformat()
    send({"metrics": points("queue.depth", [1])})  # ingest of metrics clears the cached answer
    assert {entry["name"] for entry in client.get("/admin/api/metrics/names").json["names"]} == {
        "checkout.latency_ms", "queue.depth"}


def test_explorer_series_filters_and_groups(send, admin, client):
    send({"metrics": points("lat", [10, 20], region="eu", tier="web") + points("lat", [30], region="us", tier="web")
          + points("lat", [99], region="us", tier="batch")})
    query = f"name=lat&agg=max&minutes=15&group_by=region&filters={quote(json.dumps({'tier': 'web'}))}"
    body = client.get(f"/admin/api/explorer/series?{query}").json
    assert body["bucket"] == "1m" and body["filters"] == {"tier": "web"}
    assert [(line["group"], line["points"][0]["value"], line["points"][0]["count"]) for line in body["series"]] == [
        ("eu", 20, 2), ("us", 30, 1)]
    [other] = client.get(f"/admin/api/explorer/series?{query}&top=1").json["series"][1:]
    assert other["other"] is True and other["points"][0]["sum"] == 30


@pytest.mark.parametrize("query, status", [
    ("agg=avg", 400), ("name=x&agg=median", 400), ("name=x&bucket=2m", 400), ("name=x&minutes=0", 400),
    ("name=x&minutes=10081", 400), ("name=x&filters=%5B%5D", 400), ("name=x&filters=%7B", 400),
    ("name=x&filters=%7B%22a%22%3A1%7D", 400), ("name=x&top=0", 400), ("name=x&minutes=10080&bucket=1m", 422),
    ("name=x&minutes=10080", 200),
])
def test_explorer_series_validation(admin, client, query, status):
    response = client.get(f"/admin/api/explorer/series?{query}")
    assert response.status_code == status, response.json


def test_reads_need_a_session_and_are_documented(client):
    assert client.get("/admin/api/metrics/names").status_code == 401
    assert client.get("/admin/api/explorer/series?name=x").status_code == 401
    paths = spec.document()["paths"]
    assert "get" in paths["/admin/api/metrics/names"] and "get" in paths["/admin/api/explorer/series"]


VIEW = {"name": "checkout.latency_ms", "agg": "p95", "group_by": "region", "filters": '{"region":"eu"}'}


def pin(auth, title="Checkout p95", view=VIEW):
    return auth.call("POST", "/admin/api/explorer/pins", json={"title": title, "view": view})


def test_pins_are_kept_per_user_and_viewers_pin_their_own(auth, client):
    auth.login_viewer()
    created = pin(auth)
    assert created.status_code == 201, created.json
    viewer_pin = created.json["pin"]
    assert viewer_pin["title"] == "Checkout p95" and viewer_pin["view"] == VIEW
    second = pin(auth, "Second", {"name": "queue.depth"}).json["pin"]
    assert [p["id"] for p in client.get("/admin/api/explorer/pins").json["pins"]] == [viewer_pin["id"], second["id"]]
    auth.logout()

    auth.login()
    assert client.get("/admin/api/explorer/pins").json["pins"] == []  # the admin sees only their own
    # Nobody touches another user's pin, admins included: it is no pin to them.
    assert auth.call("DELETE", f"/admin/api/explorer/pins/{viewer_pin['id']}").status_code == 404
    admin_pin = pin(auth).json["pin"]
    auth.logout()

    auth.login_viewer()
    assert auth.call("DELETE", f"/admin/api/explorer/pins/{admin_pin['id']}").status_code == 404
    assert auth.call("DELETE", f"/admin/api/explorer/pins/{viewer_pin['id']}").status_code == 204
    assert [p["id"] for p in client.get("/admin/api/explorer/pins").json["pins"]] == [second["id"]]
    # The exception is narrow: every other write stays admin-only for a viewer.
    assert auth.call("POST", "/admin/api/notifications", json={"title": "x"}).status_code == 403


@pytest.mark.parametrize("body, field", [
    ({"view": VIEW}, "title"), ({"title": " ", "view": VIEW}, "title"), ({"title": "x" * 121, "view": VIEW}, "title"),
    ({"title": "t"}, "view"), ({"title": "t", "view": {"agg": "avg"}}, "view"), ({"title": "t", "view": []}, "view"),
    ({"title": "t", "view": {"name": "n", "colour": "red"}}, "view.colour"),
    ({"title": "t", "view": {"name": "n", "minutes": 15}}, "view.minutes"),
])
def test_invalid_pins_name_the_field(admin, body, field):
    response = admin.call("POST", "/admin/api/explorer/pins", json=body)
    assert response.status_code == 422 and response.json["error"]["details"] == {"field": field}


def test_pins_are_bounded_and_need_a_session_and_the_csrf_token(auth, client):
    assert client.get("/admin/api/explorer/pins").status_code == 401
    auth.login_viewer()
    assert client.post("/admin/api/explorer/pins", json={"title": "t", "view": VIEW}).status_code == 400  # no CSRF
    for _ in range(12):
        assert pin(auth).status_code == 201
    assert pin(auth).status_code == 409
    assert auth.call("DELETE", f"/admin/api/explorer/pins/{2**40}").status_code == 404
