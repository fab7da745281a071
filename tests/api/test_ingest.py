"""POST /api/v1/events: authentication, validation per item, idempotent transactions, limits."""
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import csrf_token_in

NOW = datetime.now(UTC)


def transaction(id="t-1", amount="19.99", currency="USD", status="completed", user_id="u-1", **extra):
    return {"id": id, "amount": amount, "currency": currency, "status": status, "user_id": user_id} | extra


def test_missing_key_is_401(client):
    response = client.post("/api/v1/events", json={"transactions": [transaction()]})
    assert response.status_code == 401
    assert "Bearer" in response.json["error"]["message"]


def test_unknown_key_is_401(send):
    assert send({"transactions": [transaction()]}, key="pb_not-a-key").status_code == 401


def test_revoked_key_stops_at_once(send, admin, client):
    key_id = client.get("/admin/api/api-keys").json["api_keys"][0]["id"]
    assert send({"transactions": [transaction()]}).status_code == 202
    admin.call("DELETE", f"/admin/api/api-keys/{key_id}")
    assert send({"transactions": [transaction("t-2")]}).status_code == 401


def test_ingest_needs_no_csrf_token_or_session(send):
    response = send({"transactions": [transaction()], "activities": [{"user_id": "u-1", "action": "login"}],
                     "metrics": [{"name": "queue.depth", "value": 3}]})
    assert response.status_code == 202
    assert response.json == {"accepted": 3, "rejected": 0, "errors": []}


def test_key_use_is_recorded(send, admin, client):
    send({"metrics": [{"name": "x", "value": 1}]})
    assert client.get("/admin/api/api-keys").json["api_keys"][0]["last_used_at"]


BAD_TRANSACTIONS = [
    ({"amount": "1", "currency": "USD", "status": "completed", "user_id": "u"}, "id is required"),
    (transaction(amount="-1"), "amount must be between"),
    (transaction(amount="1.23456"), "more than 4 decimal places"),
    (transaction(amount="ten"), "amount must be a decimal"),
    (transaction(amount=True), "amount is required"),
    (transaction(amount="NaN"), "amount must be between"),
    (transaction(currency="US"), "currency must be an ISO 4217"),
    (transaction(currency="U$D"), "currency must be an ISO 4217"),
    (transaction(status="done"), "status must be one of"),
    (transaction(user_id=None), "user_id is required"),
    (transaction(timestamp="yesterday"), "timestamp must be ISO-8601"),
    (transaction(timestamp="1999-12-31T00:00:00Z"), "out of range"),
    (transaction(timestamp=(NOW + timedelta(days=3)).isoformat()), "out of range"),
    (transaction(metadata=["not", "an", "object"]), "metadata must be an object"),
    (transaction(metadata={"blob": "x" * 5000}), "at most 4096 bytes"),
    (transaction(metadata={"ratio": float("nan")}), "finite numbers"),  # PostgreSQL's json type refuses NaN
    ("a string", "must be an object"),
]


@pytest.mark.parametrize("item, message", BAD_TRANSACTIONS)
def test_bad_transactions_are_rejected_with_a_reason(send, item, message):
    response = send({"transactions": [transaction("good-before"), item, transaction("good-after")]})
    assert response.status_code == 202
    assert response.json["accepted"] == 2 and response.json["rejected"] == 1
    [error] = response.json["errors"]
    assert error["index"] == 1 and error["kind"] == "transaction"
    assert message in error["message"]


BAD_ACTIVITIES = [
    ({"action": "login"}, "user_id is required"),
    ({"user_id": "u"}, "action is required"),
    ({"user_id": "u", "action": "x" * 65}, "action must be 1 to 64"),
    ({"user_id": "u", "action": "view", "path": 42.5}, "path must be a string"),
]

BAD_METRICS = [
    ({"value": 1}, "name must start"),
    ({"name": "9lives", "value": 1}, "name must start"),
    ({"name": "ok\n", "value": 1}, "name must start"),
    ({"name": "ok", "value": 1, "tags": {f"t{n}": "v" * 200 for n in range(3)}}, "at most 500 bytes"),
    ({"name": "ok"}, "value must be a finite number"),
    ({"name": "ok", "value": "12"}, "value must be a finite number"),
    ({"name": "ok", "value": True}, "value must be a finite number"),
    ({"name": "ok", "value": 1, "tags": {"region": 5}}, "tags must map"),
    ({"name": "ok", "value": 1, "tags": ["eu"]}, "tags must be an object"),
]


@pytest.mark.parametrize("kind, key, item, message",
                         [("activity", "activities", *case) for case in BAD_ACTIVITIES]
                         + [("metric", "metrics", *case) for case in BAD_METRICS])
def test_bad_activities_and_metrics_are_rejected(send, kind, key, item, message):
    good = {"activities": {"user_id": "u", "action": "login"}, "metrics": {"name": "ok", "value": 1}}[key]
    response = send({key: [good, item]})
    assert response.json["accepted"] == 1
    assert response.json["errors"] == [{"index": 1, "kind": kind, "message": response.json["errors"][0]["message"]}]
    assert message in response.json["errors"][0]["message"]


@pytest.mark.parametrize("body, status, message", [
    ([], 400, "JSON object"),
    ({"orders": []}, 422, "unknown keys"),
    ({}, 422, "at least one of"),
    ({"transactions": {"id": 1}}, 422, "must be an array"),
    ({"metrics": [{"name": "m", "value": 1}] * 5001}, 413, "at most 5000"),
])
def test_unusable_batches_are_refused_whole(send, body, status, message):
    response = send(body)
    assert response.status_code == status
    assert message in response.json["error"]["message"]


def test_exactly_5000_items_are_accepted(send):
    response = send({"metrics": [{"name": "m", "value": index} for index in range(5000)]})
    assert response.status_code == 202 and response.json["accepted"] == 5000


def test_non_json_bodies_are_refused(client, api_key):
    headers = {"Authorization": f"Bearer {api_key}"}
    assert client.post("/api/v1/events", data="x=1", headers=headers).status_code == 415
    broken = client.post("/api/v1/events", data="{broken", headers=headers, content_type="application/json")
    assert broken.status_code == 400 and "not valid JSON" in broken.json["error"]["message"]


def test_repeated_id_updates_the_row_and_never_duplicates(send, admin, client):
    send({"transactions": [transaction("order-7", amount="30", status="pending")]})
    send({"transactions": [transaction("order-7", amount="30", status="completed")]})
    rows = client.get("/admin/api/transactions").json["transactions"]
    assert [(row["id"], row["status"], row["amount"]) for row in rows] == [("order-7", "completed", "30.00")]


def test_repeat_inside_one_batch_keeps_the_last(send, admin, client):
    response = send({"transactions": [transaction("dup", status="pending"), transaction("dup", status="failed")]})
    assert response.json["accepted"] == 2
    rows = client.get("/admin/api/transactions").json["transactions"]
    assert [(row["id"], row["status"]) for row in rows] == [("dup", "failed")]


def test_amounts_stay_exact(send, admin, client):
    send({"transactions": [transaction(f"t{n}", amount=amount) for n, amount in enumerate(["0.1", 0.2, "1234.5678"])]})
    flow = client.get("/admin/api/transactions/flow").json
    assert flow["statuses"] == [{"status": "completed", "count": 3, "amounts": {"USD": "1234.8678"}}]


def test_timestamps_accept_iso_and_unix_seconds(send, admin, client):
    moment = NOW.replace(microsecond=0) - timedelta(hours=2)
    send({"transactions": [transaction("iso", timestamp=moment.isoformat().replace("+00:00", "Z")),
                           transaction("unix", timestamp=moment.timestamp()),
                           transaction("naive", timestamp=moment.replace(tzinfo=None).isoformat())]})
    stamps = {row["id"]: row["timestamp"] for row in client.get("/admin/api/transactions").json["transactions"]}
    assert set(stamps.values()) == {moment.isoformat()}


def test_ingest_is_rate_limited_per_key(app, send):
    app.config["INGEST_RATE_LIMIT"] = "3 per minute"
    statuses = [send({"metrics": [{"name": "m", "value": 1}]}).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]


def test_admin_session_is_not_an_api_key(auth, client):
    auth.login()
    token = csrf_token_in(client.get("/admin/dashboard").text)
    response = client.post("/api/v1/events", json={"metrics": []}, headers={"X-CSRFToken": token})
    assert response.status_code == 401
