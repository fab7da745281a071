"""The analytics endpoints answer exactly what was ingested."""
from datetime import UTC, datetime, timedelta

import pytest

from services.analytics.time_buckets import floor_time

NOW = datetime.now(UTC)
HOUR = floor_time(NOW, "1h")


def tx(id, amount, status="completed", currency="USD", at=None, user="u-1"):
    return {"id": id, "amount": amount, "currency": currency, "status": status, "user_id": user,
            "timestamp": (at or NOW).isoformat()}


@pytest.fixture
def history(send):
    """Transactions across three hours and two currencies, one refund and one failure."""
    two_hours_ago, one_hour_ago = HOUR - timedelta(hours=2), HOUR - timedelta(hours=1)
    response = send({"transactions": [
        tx("a", "10.00", at=two_hours_ago + timedelta(minutes=5)),
        tx("b", "15.50", at=two_hours_ago + timedelta(minutes=50)),
        tx("c", "100", at=one_hour_ago + timedelta(minutes=1)),
        tx("d", "7.25", status="failed", at=one_hour_ago + timedelta(minutes=2)),
        tx("e", "99.99", currency="EUR", at=one_hour_ago + timedelta(minutes=3)),
        tx("f", "4.50", status="pending", at=HOUR + timedelta(seconds=1)),
    ]})
    assert response.json["accepted"] == 6
    return two_hours_ago, one_hour_ago


def buckets_by_start(body):
    return {entry["start"]: entry for entry in body["buckets"]}


def test_hourly_revenue_matches_what_was_ingested(history, admin, client):
    two_hours_ago, one_hour_ago = history
    body = client.get("/admin/api/analytics/revenue?period=hourly").json
    assert body["currency"] == "USD" and body["currencies"] == ["USD", "EUR"]
    assert len(body["buckets"]) in (24, 25)
    buckets = buckets_by_start(body)
    assert buckets[two_hours_ago.isoformat()] | {} == {"start": two_hours_ago.isoformat(), "total": "25.50",
                                                         "count": 2, "average": "12.75"}
    assert buckets[one_hour_ago.isoformat()]["total"] == "100.00"
    assert body["summary"] == {"total": "125.50", "count": 3, "average": "41.8333",
                               "peak": {"start": one_hour_ago.isoformat(), "total": "100.00"}}


def test_revenue_in_another_currency(history, admin, client):
    body = client.get("/admin/api/analytics/revenue?period=daily&currency=eur").json
    assert body["currency"] == "EUR" and body["summary"]["total"] == "99.99"
    assert len(body["buckets"]) in (30, 31)


def test_refund_moves_revenue_out(history, admin, send, client):
    send({"transactions": [tx("c", "100", status="refunded", at=history[1] + timedelta(minutes=1))]})
    body = client.get("/admin/api/analytics/revenue?period=hourly&currency=USD").json
    assert body["summary"]["total"] == "25.50"


def test_weekly_revenue_with_a_range(history, admin, client):
    start = (NOW - timedelta(weeks=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = client.get(f"/admin/api/analytics/revenue?period=weekly&start={start}").json
    assert body["summary"]["total"] == "125.50"
    assert all(datetime.fromisoformat(entry["start"]).weekday() == 0 for entry in body["buckets"])


@pytest.mark.parametrize("query, status", [
    ("period=monthly", 400),
    ("start=not-a-time", 400),
    ("start=2026-02-01T00:00:00Z&end=2026-01-01T00:00:00Z", 422),
    ("period=hourly&start=2020-01-01T00:00:00Z&end=2026-01-01T00:00:00Z", 422),
])
def test_revenue_rejects_bad_ranges(admin, client, query, status):
    response = client.get(f"/admin/api/analytics/revenue?{query}")
    assert response.status_code == status
    assert response.json["error"]["message"]


def test_transaction_flow_by_status(history, admin, client):
    body = client.get("/admin/api/transactions/flow").json
    by_status = {entry["status"]: entry for entry in body["statuses"]}
    assert by_status["completed"] == {"status": "completed", "count": 4,
                                      "amounts": {"USD": "125.50", "EUR": "99.99"}}
    assert by_status["failed"]["count"] == 1 and by_status["pending"]["count"] == 1
    assert body["total_count"] == 6
    assert body["success_rate"] == 0.8


def test_recent_transactions_filters(history, admin, client):
    everything = client.get("/admin/api/transactions").json["transactions"]
    assert [row["id"] for row in everything] == ["f", "e", "d", "c", "b", "a"]
    failed = client.get("/admin/api/transactions?status=failed").json["transactions"]
    assert [row["id"] for row in failed] == ["d"]
    since = (HOUR - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert len(client.get(f"/admin/api/transactions?since={since}&limit=2").json["transactions"]) == 2
    assert client.get("/admin/api/transactions?status=lost").status_code == 400


def test_user_activity_window(send, admin, client):
    activities = [{"user_id": f"u-{n % 3}", "action": action, "path": "/p", "timestamp": (NOW - timedelta(minutes=n)).isoformat()}
                  for n, action in enumerate(["login", "view", "view", "export", "view"])]
    activities.append({"user_id": "old", "action": "login", "timestamp": (NOW - timedelta(hours=2)).isoformat()})
    send({"activities": activities})
    body = client.get("/admin/api/user-activity?minutes=30&limit=3").json
    assert body["active_users"] == 3
    assert [entry["action"] for entry in body["feed"]] == ["login", "view", "view"]
    assert body["by_action"][0] == {"action": "view", "count": 3}
    assert sum(entry["count"] for entry in body["by_hour"]) == 5
    assert client.get("/admin/api/user-activity?minutes=180").json["active_users"] == 4


def test_metric_series_with_aggregates_and_groups(send, admin, client):
    minute = floor_time(NOW, "1m") - timedelta(minutes=2)
    points = [{"name": "checkout.latency_ms", "value": value, "tags": {"region": region},
               "timestamp": (minute + timedelta(seconds=index)).isoformat()}
              for index, (value, region) in enumerate([(10, "eu"), (20, "eu"), (30, "us"), (40, "us")])]
    send({"metrics": points})
    base = "/admin/api/metrics/query?name=checkout.latency_ms&bucket=1m"
    expectations = {"avg": 25, "sum": 100, "count": 4, "min": 10, "max": 40}
    for agg, expected in expectations.items():
        [series] = client.get(f"{base}&agg={agg}").json["series"]
        assert series["points"] == [{"ts": minute.isoformat(), "value": expected}], agg
    p95 = client.get(f"{base}&agg=p95").json["series"][0]["points"][0]["value"]
    assert 40 * 0.94 <= p95 <= 40 * 1.06
    grouped = client.get(f"{base}&agg=avg&group_by=region").json["series"]
    assert [(s["group"], s["points"][0]["value"]) for s in grouped] == [("eu", 15), ("us", 35)]
    hourly = client.get("/admin/api/metrics/query?name=checkout.latency_ms&bucket=1h&agg=count").json["series"]
    assert hourly[0]["points"][0]["value"] == 4


@pytest.mark.parametrize("query, status", [
    ("agg=avg", 400), ("name=x&agg=median", 400), ("name=x&bucket=2m", 400),
    ("name=x&bucket=1m&start=2026-01-01T00:00:00Z&end=2026-12-01T00:00:00Z", 422),
])
def test_metric_query_validation(admin, client, query, status):
    assert client.get(f"/admin/api/metrics/query?{query}").status_code == status


def test_csv_export_streams_every_row(send, admin, client):
    send({"transactions": [tx(f"csv-{n}", "1.00", at=NOW - timedelta(seconds=n)) for n in range(2500)]})
    response = client.get("/admin/api/export/transactions.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.data.decode().strip().split("\r\n")
    assert lines[0] == "id,timestamp,amount,currency,status,user_id,updated_at,metadata"
    assert len(lines) == 2501
    assert lines[1].startswith("csv-2499,")


@pytest.mark.parametrize("dataset, payload, rows", [
    ("activity", {"activities": [{"user_id": "u", "action": "login"}] * 3}, 3),
    ("metrics", {"metrics": [{"name": "m", "value": 1.5}] * 4}, 4),
    ("alerts", {"metrics": []}, 0),
])
def test_csv_export_of_each_dataset(send, admin, client, dataset, payload, rows):
    send(payload)
    lines = client.get(f"/admin/api/export/{dataset}.csv").data.decode().strip().split("\r\n")
    assert len(lines) == rows + 1


def test_csv_export_of_unknown_dataset_is_404(admin, client):
    assert client.get("/admin/api/export/passwords.csv").status_code == 404
