"""The /admin Socket.IO namespace through Flask-SocketIO's test client (the fan-out round is run by hand)."""
import logging

import pytest

from extensions import socketio
from tests.conftest import AuthActions

NAMESPACE = "/admin"


def connect(app, client):
    return socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)


def events(socket, name):
    return [packet["args"][0] for packet in socket.get_received(NAMESPACE) if packet["name"] == name]


@pytest.fixture
def admin_socket(app, client, auth):
    auth.login()
    socket = connect(app, client)
    yield socket
    if socket.is_connected(NAMESPACE):
        socket.disconnect(NAMESPACE)


@pytest.fixture
def viewer_socket(app):
    client = app.test_client()
    AuthActions(client).login_viewer()
    socket = connect(app, client)
    yield socket
    if socket.is_connected(NAMESPACE):
        socket.disconnect(NAMESPACE)


def fan_out(app):
    app.extensions["runtime"].fanout.round()


def test_anonymous_connections_are_refused(app, client):
    assert not connect(app, client).is_connected(NAMESPACE)


def test_status_on_connect_and_after_each_join_and_leave(app, admin_socket):
    [status] = events(admin_socket, "status")
    assert status["user"] == "admin" and status["role"] == "admin" and status["rooms"] == []
    assert status["epoch"] == app.extensions["runtime"].hub.epoch and status["seq"] == 0
    admin_socket.emit("join_admin_room", namespace=NAMESPACE)
    admin_socket.emit("join_room", {"room": "transactions"}, namespace=NAMESPACE)
    admin_socket.emit("leave_room", {"room": "transactions"}, namespace=NAMESPACE)
    admin_socket.emit("leave_admin_room", namespace=NAMESPACE)
    assert [status["rooms"] for status in events(admin_socket, "status")] == [
        ["admin"], ["admin", "transactions"], ["admin"], []]


@pytest.mark.parametrize("event", ["join_room", "leave_room"])
@pytest.mark.parametrize("payload, code, names", [
    ({"room": "secrets"}, "unknown_room", "'secrets'"), ({"room": "admin"}, "unknown_room", "'admin'"),
    ({"room": "x" * 500_000}, "unknown_room", "'xxxxxxxxxxxx...xxxxxxxxxxxxx'"),
    ({}, "bad_payload", '{"room": "<name>"}'), ("transactions", "bad_payload", "'transactions'"),
    (None, "bad_payload", "None"), ({"room": 5}, "bad_payload", "{'room': 5}"),
    ({"room": ["metrics"]}, "bad_payload", "{'room': ['metrics']}"), ({"room": {"a": 1}}, "bad_payload", "{'room': {'a': 1}}"),
    ([1] * 10_000, "bad_payload", "[1, 1, 1, 1, 1, 1, ...]")])
def test_wrong_or_unknown_rooms_get_an_error_naming_what_is_wrong(admin_socket, event, payload, code, names):
    admin_socket.get_received(NAMESPACE)
    admin_socket.emit(event, payload, namespace=NAMESPACE)
    [error] = admin_socket.get_received(NAMESPACE)
    assert error["name"] == "error" and error["args"][0]["code"] == code
    assert names in error["args"][0]["message"] and len(error["args"][0]["message"]) < 200


@pytest.mark.parametrize("event", ["join_room", "resume", "ping", "join_admin_room"])
def test_more_than_one_payload_is_an_error_not_a_traceback(admin_socket, event, caplog):
    admin_socket.get_received(NAMESPACE)
    with caplog.at_level(logging.WARNING):
        admin_socket.emit(event, {"room": "metrics"}, {"extra": 1}, namespace=NAMESPACE)
    [error] = admin_socket.get_received(NAMESPACE)
    assert error["args"][0] == {"code": "bad_payload", "message": f"{event} takes one payload, not 2"}
    assert caplog.records == []


def test_unknown_events_get_an_error_listing_the_known_ones(admin_socket):
    admin_socket.get_received(NAMESPACE)
    admin_socket.emit("subscribe", {"room": "metrics"}, namespace=NAMESPACE)
    [error] = events(admin_socket, "error")
    assert error["code"] == "unknown_event" and "'subscribe'" in error["message"]
    assert "join_room" in error["message"] and "resume" in error["message"]


def test_rooms_are_isolated(app, admin_socket, viewer_socket, send):
    admin_socket.emit("join_room", {"room": "transactions"}, namespace=NAMESPACE)
    viewer_socket.emit("join_room", {"room": "activity"}, namespace=NAMESPACE)
    admin_socket.get_received(NAMESPACE), viewer_socket.get_received(NAMESPACE)
    send({"transactions": [{"id": "t", "amount": "1", "currency": "USD", "status": "completed", "user_id": "u"}],
          "activities": [{"user_id": "u", "action": "login"}]})
    fan_out(app)
    admin_got = admin_socket.get_received(NAMESPACE)
    viewer_got = viewer_socket.get_received(NAMESPACE)
    assert [packet["name"] for packet in admin_got] == ["transaction"]
    assert [packet["name"] for packet in viewer_got] == ["activity"]
    assert admin_got[0]["args"][0]["items"][0]["id"] == "t"
    assert viewer_got[0]["args"][0]["items"][0]["action"] == "login"


def test_each_room_gets_its_event(app, admin_socket, send, auth):
    for room in ("metrics", "notifications"):
        admin_socket.emit("join_room", {"room": room}, namespace=NAMESPACE)
    admin_socket.emit("join_admin_room", namespace=NAMESPACE)
    admin_socket.get_received(NAMESPACE)
    send({"metrics": [{"name": "queue.depth", "value": 4}]})
    auth.call("POST", "/admin/api/notifications", json={"title": "hello"})
    app.extensions["runtime"].hub.publish("live_update", [{"kpis": {}}])
    fan_out(app)
    received = {packet["name"]: packet["args"][0] for packet in admin_socket.get_received(NAMESPACE)}
    assert set(received) == {"metric", "notification", "live_update"}
    assert received["notification"]["items"][0]["title"] == "hello"
    assert all({"seq", "first_seq", "ts", "items"} <= set(payload) for payload in received.values())


def test_request_live_update_answers_this_client_only(app, admin_socket, viewer_socket):
    admin_socket.emit("request_live_update", namespace=NAMESPACE)
    assert events(admin_socket, "error")[0]["code"] == "no_live_update"
    app.extensions["runtime"].hub.publish("live_update", [{"kpis": {"active_users": 3}}])
    viewer_socket.get_received(NAMESPACE)
    admin_socket.emit("request_live_update", namespace=NAMESPACE)
    assert events(admin_socket, "live_update")[0]["items"][0]["kpis"]["active_users"] == 3
    assert viewer_socket.get_received(NAMESPACE) == []


def test_ping_answers_pong(app, admin_socket):
    admin_socket.emit("ping", namespace=NAMESPACE)
    [pong] = events(admin_socket, "pong")
    assert "server_time" in pong and "seq" in pong and pong["epoch"] == app.extensions["runtime"].hub.epoch


def test_resume_replays_then_joins(app, admin_socket, send):
    since = app.extensions["runtime"].hub.latest_seq
    for n in range(3):
        send({"transactions": [{"id": f"r{n}", "amount": "1", "currency": "USD", "status": "completed",
                                "user_id": "u"}]})
    fan_out(app)
    admin_socket.get_received(NAMESPACE)
    admin_socket.emit("resume", {"since": since, "rooms": ["transactions"]}, namespace=NAMESPACE)
    fan_out(app)
    replayed = events(admin_socket, "transaction")
    assert [payload["items"][0]["id"] for payload in replayed] == ["r0", "r1", "r2"]
    send({"transactions": [{"id": "live", "amount": "1", "currency": "USD", "status": "completed", "user_id": "u"}]})
    fan_out(app)
    assert [payload["items"][0]["id"] for payload in events(admin_socket, "transaction")] == ["live"]


def test_resume_of_the_same_epoch_replays_and_of_another_epoch_resyncs(app, admin_socket, send):
    hub = app.extensions["runtime"].hub
    sale = {"id": "e0", "amount": "1", "currency": "USD", "status": "completed", "user_id": "u"}
    send({"transactions": [sale]})
    fan_out(app)
    admin_socket.get_received(NAMESPACE)
    admin_socket.emit("resume", {"since": 0, "epoch": hub.epoch, "rooms": ["transactions"]}, namespace=NAMESPACE)
    fan_out(app)
    assert [payload["items"][0]["id"] for payload in events(admin_socket, "transaction")] == ["e0"]
    # The same seq from a process before a restart: its numbering means nothing here.
    admin_socket.emit("resume", {"since": 0, "epoch": "before-restart", "rooms": ["transactions"]}, namespace=NAMESPACE)
    fan_out(app)
    [resync] = [(packet["name"], packet["args"][0]) for packet in admin_socket.get_received(NAMESPACE)]
    assert resync[0] == "resync" and (resync[1]["epoch"], resync[1]["seq"]) == (hub.epoch, hub.latest_seq)


@pytest.mark.parametrize("payload, code, names", [
    ({}, "bad_payload", "since"), ({"since": "3"}, "bad_payload", "since"), ({"since": -1}, "bad_payload", "since"),
    ({"since": True}, "bad_payload", "since"), ({"since": 2**63}, "bad_payload", "since"),
    ({"since": 1.5}, "bad_payload", "since"), ("resume", "bad_payload", '"since"'), (None, "bad_payload", '"since"'),
    ({"since": 0, "epoch": 5}, "bad_payload", "epoch"), ({"since": 0, "epoch": "a:b"}, "bad_payload", "epoch"),
    ({"since": 0, "epoch": "e" * 100_000}, "bad_payload", "epoch"),
    ({"since": 0, "rooms": ["nope"]}, "unknown_room", "'nope'"), ({"since": 0, "rooms": "transactions"}, "bad_payload", "rooms"),
    ({"since": 0, "rooms": [["metrics"]]}, "bad_payload", "rooms"), ({"since": 0, "rooms": [{}]}, "bad_payload", "rooms"),
    ({"since": 0, "rooms": ["metrics"] * 10_000 + ["x" * 100_000]}, "unknown_room", "'xxxxxxxxxxxx...xxxxxxxxxxxxx'")])
def test_bad_resume_payloads_get_an_error_naming_what_is_wrong(app, admin_socket, payload, code, names):
    admin_socket.get_received(NAMESPACE)
    admin_socket.emit("resume", payload, namespace=NAMESPACE)
    fan_out(app)
    [error] = admin_socket.get_received(NAMESPACE)
    assert error["name"] == "error" and error["args"][0]["code"] == code
    assert names in error["args"][0]["message"] and len(error["args"][0]["message"]) < 200
    assert app.extensions["runtime"].fanout.resumes == []


def test_disconnect_forgets_the_client(app, admin_socket):
    admin_socket.emit("join_admin_room", namespace=NAMESPACE)
    presence = app.extensions["runtime"].presence
    assert presence.listening("live_update")
    admin_socket.disconnect(NAMESPACE)
    assert not presence.listening("live_update")
