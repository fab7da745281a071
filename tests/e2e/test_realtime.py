"""Socket.IO and SSE against a real server, on each WebSocket transport: refusal, rooms, every event, lossless
resume and replay."""
import json

import pytest
import requests
import socketio as socketio_package

from tests.e2e.realtime_clients import SocketClient, SseReader
from tests.e2e.test_ingest_server import create_api_key
from tests.e2e.transports import TRANSPORTS
from tests.servers import LIVE_ADMIN, login_session, start_server


@pytest.fixture(scope="module", params=TRANSPORTS)
def server(request, tmp_path_factory):
    process = start_server(tmp_path_factory.mktemp("realtime"), ADMIN_PASSWORD=LIVE_ADMIN[1],
                           LIVE_UPDATE_INTERVAL="0.3", SYSTEM_SAMPLE_INTERVAL="0.3", SSE_HEARTBEAT_SECONDS="0.5",
                           INGEST_RATE_LIMIT="10000 per second", WEBSOCKET_TRANSPORT=request.param)
    process.api_key = create_api_key(process)
    yield process
    process.stop()


@pytest.fixture
def admin_session(server):
    session = login_session(server)
    yield session
    session.close()  # else its pooled connection is left to the collector, and fails a later test (ResourceWarning)


@pytest.fixture
def clients(server, admin_session):
    opened = []

    def open_client(session=admin_session):
        client = SocketClient(server, session)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def ingest(server, payload):
    response = requests.post(server.url + "/api/v1/events", json=payload,
                             headers={"Authorization": f"Bearer {server.api_key}"}, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()


def sale(id):
    return {"id": id, "amount": "3.00", "currency": "USD", "status": "completed", "user_id": "u"}


def transaction_ids(client):
    return [item["id"] for payload in client.payloads("transaction") for item in payload["items"]]


def test_a_connection_without_a_session_is_refused(server):
    with pytest.raises(socketio_package.exceptions.ConnectionError):
        SocketClient(server)


def test_status_on_connect(clients):
    client = clients()
    status = client.wait_for(lambda events: client.payloads("status"))[0]
    assert status["user"] == "admin" and status["rooms"] == []


def test_rooms_are_isolated(server, clients):
    payments, activity = clients(), clients()
    payments.emit("join_room", {"room": "transactions"})
    activity.emit("join_room", {"room": "activity"})
    payments.wait_for(lambda events: len(payments.payloads("status")) == 2)
    activity.wait_for(lambda events: len(activity.payloads("status")) == 2)
    ingest(server, {"transactions": [sale("iso-1")], "activities": [{"user_id": "u", "action": "login"}]})
    payments.wait_for(lambda events: "iso-1" in transaction_ids(payments))
    activity.wait_for(lambda events: activity.payloads("activity"))
    assert activity.payloads("transaction") == [] and payments.payloads("activity") == []


def test_every_channel_reaches_its_room(server, clients, admin_session):
    client = clients()
    client.emit("join_admin_room")
    for room in ("metrics", "transactions", "activity", "notifications"):
        client.emit("join_room", {"room": room})
    client.wait_for(lambda events: len(client.payloads("status")) == 6)
    ingest(server, {"transactions": [sale("each-1")], "activities": [{"user_id": "u", "action": "view"}],
                    "metrics": [{"name": "queue.depth", "value": 7}]})
    admin_session.post(server.url + "/admin/api/notifications", json={"title": "Hello"}, timeout=10)
    wanted = {"live_update", "metrics", "metric", "transaction", "activity", "notification"}
    client.wait_for(lambda events: wanted <= {name for name, _ in events})
    live = client.payloads("live_update")[-1]["items"][0]
    assert {"kpis", "host", "performance", "revenue_delta"} <= set(live)
    assert client.payloads("metrics")[-1]["items"][0]["cpu"]["percent"] >= 0
    seqs = [data["seq"] for name, data in client.events if name in wanted]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


def test_resume_after_a_disconnect_loses_and_repeats_nothing(server, clients):
    first = clients()
    first.emit("join_room", {"room": "transactions"})
    first.wait_for(lambda events: len(first.payloads("status")) == 2)
    ingest(server, {"transactions": [sale("before-1")]})
    first.wait_for(lambda events: "before-1" in transaction_ids(first))
    last_seq = max(payload["seq"] for payload in first.payloads("transaction"))
    first.close()

    missed = [f"missed-{n}" for n in range(5)]
    for order in missed:
        ingest(server, {"transactions": [sale(order)]})

    second = clients()
    second.emit("resume", {"since": last_seq, "rooms": ["transactions"]})
    second.wait_for(lambda events: len(transaction_ids(second)) >= 5)
    ingest(server, {"transactions": [sale("after-1")]})
    second.wait_for(lambda events: "after-1" in transaction_ids(second))
    assert transaction_ids(second) == missed + ["after-1"]


def test_sse_stream_has_ids_events_and_heartbeats(server, admin_session):
    response = admin_session.get(server.url + "/admin/api/stream?channels=transaction,alert", stream=True, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    ingest(server, {"transactions": [sale("sse-1")]})
    reader = SseReader(response)
    frames = reader.read_until(lambda frames: any(f.get("event") == "transaction" for f in frames)
                               and any(f.get("comment") == "heartbeat" for f in frames))
    reader.close()
    assert frames[0]["retry"] == "3000"
    [frame] = [f for f in frames if f.get("event") == "transaction"]
    data = json.loads(frame["data"])
    epoch, seq = frame["id"].split(":")
    assert int(seq) == data["seq"] and data["items"][0]["id"] == "sse-1"
    assert frames[0]["id"].startswith(f"{epoch}:")  # a live start names its place, in the same epoch


def test_sse_last_event_id_replays_exactly_once(server, admin_session):
    response = admin_session.get(server.url + "/admin/api/stream?channels=transaction", stream=True, timeout=10)
    ingest(server, {"transactions": [sale("mark")]})
    first = SseReader(response)
    frames = first.read_until(lambda frames: any(f.get("event") == "transaction" for f in frames))
    first.close()
    mark = next(f["id"] for f in frames if f.get("event") == "transaction")

    for n in range(3):
        ingest(server, {"transactions": [sale(f"gap-{n}")]})
    again = admin_session.get(server.url + "/admin/api/stream?channels=transaction", stream=True, timeout=10,
                              headers={"Last-Event-ID": mark})
    reader = SseReader(again)
    reader.read_until(lambda frames: sum(f.get("event") == "transaction" for f in frames) >= 3)
    ingest(server, {"transactions": [sale("gap-live")]})
    reader.read_until(lambda frames: sum(f.get("event") == "transaction" for f in frames) >= 4)
    replay = reader.frames
    reader.close()
    ids = [json.loads(f["data"])["items"][0]["id"] for f in replay if f.get("event") == "transaction"]
    assert ids == ["gap-0", "gap-1", "gap-2", "gap-live"]


def test_sse_needs_a_session_and_known_channels(server, admin_session):
    assert requests.get(server.url + "/admin/api/stream", timeout=5).status_code == 401
    response = admin_session.get(server.url + "/admin/api/stream?channels=secrets", timeout=5)
    assert response.status_code == 400
