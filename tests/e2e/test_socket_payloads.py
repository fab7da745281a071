"""Bad Socket.IO input against a real server, sent as raw frames: each is answered with an `error` naming what is
wrong, the sender's connection carries on, a neighbour keeps receiving, and the server logs no traceback."""
import json

import pytest
import websocket

from tests.e2e.realtime_clients import SocketClient
from tests.servers import LIVE_ADMIN, login_session, start_server

BAD_FRAMES = {
    "unknown room": ('42/admin,["join_room",{"room":"secrets"}]', "unknown_room", "'secrets'"),
    "huge room name": ('42/admin,["join_room",{"room":"' + "x" * 900_000 + '"}]', "unknown_room", "'xxxxxxxxxxxx...x"),
    "room of the wrong type": ('42/admin,["leave_room",{"room":["metrics"]}]', "bad_payload", "{'room': ['metrics']}"),
    "two payloads": ('42/admin,["join_room",{"room":"metrics"},{"x":1}]', "bad_payload", "takes one payload, not 2"),
    "since as text": ('42/admin,["resume",{"since":"5","rooms":[]}]', "bad_payload", "since must be"),
    "since infinite": ('42/admin,["resume",{"since":1e400}]', "bad_payload", "since must be"),
    "since too long": ('42/admin,["resume",{"since":' + "1" * 5000 + "}]", "bad_packet", "Integer is too large"),
    "epoch of the wrong shape": ('42/admin,["resume",{"since":1,"epoch":"a:b"}]', "bad_payload", "epoch must be"),
    "unknown event": ('42/admin,["subscribe",{}]', "unknown_event", "'subscribe'"),
    "event name not text": ("42/admin,[5,{}]", "unknown_event", "no event 5"),
    "not JSON": ("42/admin,[not json", "bad_packet", "JSONDecodeError"),
    "not a list": ('42/admin,{"a":1}', "bad_packet", "KeyError"),
    "empty list": ("42/admin,[]", "bad_packet", "IndexError"),
    "nested too deep": ('42/admin,["join_room",' + "[" * 100_000 + "]" * 100_000 + "]", "bad_packet", "RecursionError"),
    "client-only packet type": ("44/admin,{}", "bad_packet", "CONNECT_ERROR"),
    "unknown packet type": ("49/admin,", "bad_packet", "Unknown packet type"),
    "binary garbage": (b"\x00\x01\x02", "bad_packet", "ValueError"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start_server(tmp_path_factory.mktemp("socket-payloads"), ADMIN_PASSWORD=LIVE_ADMIN[1],
                           LIVE_UPDATE_INTERVAL="0.2", SYSTEM_SAMPLE_INTERVAL="3600")
    yield process
    process.stop()
    assert "Traceback" not in process.output(), process.output()


@pytest.fixture(scope="module")
def session(server):
    return login_session(server)


@pytest.fixture(scope="module")
def neighbour(server, session):
    """A well-behaved client in room admin, which receives a live_update five times a second throughout."""
    client = SocketClient(server, session)
    client.emit("join_admin_room")
    client.wait_for(lambda events: client.payloads("live_update"))
    yield client
    client.close()


@pytest.fixture
def sender(server, session):
    ws = websocket.create_connection(server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
                                     cookie="; ".join(f"{c.name}={c.value}" for c in session.cookies), timeout=10)
    ws.recv()  # Engine.IO open
    ws.send("40/admin,")
    ws.recv(), ws.recv()  # the namespace's CONNECT and status, in either order
    yield ws
    ws.close()
    ws.shutdown()  # close() returns at once when the server closed first, leaving the socket open


def next_event(ws) -> tuple[str, dict]:
    """The next Socket.IO event on the raw connection, skipping Engine.IO pings."""
    while True:
        frame = ws.recv()
        if frame.startswith("42/admin,"):
            name, *args = json.loads(frame.removeprefix("42/admin,"))
            return name, args[0] if args else None


def still_served(neighbour) -> None:
    count = len(neighbour.payloads("live_update"))
    neighbour.wait_for(lambda events: len(neighbour.payloads("live_update")) >= count + 2)


@pytest.mark.parametrize("frame, code, names", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_bad_input_gets_an_error_and_the_connection_and_neighbours_carry_on(sender, neighbour, frame, code, names):
    (sender.send_binary if isinstance(frame, bytes) else sender.send)(frame)
    name, error = next_event(sender)
    assert (name, error["code"]) == ("error", code) and names in error["message"], error
    assert len(error["message"]) < 300
    sender.send('42/admin,["ping"]')
    assert next_event(sender)[0] == "pong"
    still_served(neighbour)


def test_a_packet_over_the_engineio_limit_closes_that_connection_only(server, sender, neighbour):
    """Above max_http_buffer_size (1 MB, announced as maxPayload in the Engine.IO handshake) a packet is not
    read at all: the sender is disconnected, as the protocol says."""
    with pytest.raises((websocket.WebSocketException, OSError)):
        sender.send('42/admin,["ping","' + "x" * 1_100_000 + '"]')
        while True:
            sender.recv()
    still_served(neighbour)


@pytest.mark.parametrize("frame", ["", "x"], ids=["empty frame", "not an Engine.IO packet"])
def test_an_undecodable_engineio_frame_closes_that_connection_only(server, sender, neighbour, frame):
    """Below Socket.IO, a frame that is no Engine.IO packet at all has nothing to answer: the connection ends,
    logged as one line, without a traceback (the module's fixture checks the log)."""
    sender.send(frame)
    with pytest.raises((websocket.WebSocketException, OSError)):
        while True:
            sender.recv()
    still_served(neighbour)
    assert "undecodable Engine.IO packet" in server.output()
