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
