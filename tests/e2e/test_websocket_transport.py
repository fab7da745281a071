"""The WebSocket transports in a real server, each (WEBSOCKET_TRANSPORT=fast, services/realtime/websocket_transport.py,
and upstream, python-engineio's own): pings each interval, dropping a client that stopped answering, and pushes
across an upgrade from long-polling, over real WebSocket clients."""
import json
import time

import pytest
import websocket

from tests.e2e.realtime_clients import NAMESPACE, SocketClient
from tests.e2e.transports import FALLBACK_WARNING, TRANSPORTS
from tests.servers import LIVE_ADMIN, login_session, start_server

PING_INTERVAL, PING_TIMEOUT = 1, 1


@pytest.fixture(scope="module", params=TRANSPORTS)
def server(request, tmp_path_factory):
    process = start_server(tmp_path_factory.mktemp("transport"), ADMIN_PASSWORD=LIVE_ADMIN[1],
                           SOCKETIO_PING_INTERVAL=str(PING_INTERVAL), SOCKETIO_PING_TIMEOUT=str(PING_TIMEOUT),
                           WEBSOCKET_TRANSPORT=request.param)
    yield process
    process.stop()


@pytest.fixture
def admin_session(server):
    session = login_session(server)
    yield session
    session.close()  # else its pooled connection is left to the collector, and fails a later test (ResourceWarning)


def test_the_chosen_transport_runs_without_falling_back(server):
    # On the pinned libraries the fast transport installs; a fallback would warn (tests/e2e/test_transport_fallback.py).
    assert FALLBACK_WARNING not in server.output()


class EngineIOClient:
    """Engine.IO v4 spoken by hand over a WebSocket, so a test decides whether pings are answered."""

    def __init__(self, server, session, answer_pings: bool) -> None:
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, cookie=cookie, timeout=10)
        self.answer_pings, self.pings, self.closed = answer_pings, 0, False
        handshake = self.ws.recv()
        assert handshake.startswith("0"), handshake
        self.open = json.loads(handshake[1:])
        self.ws.send(f"40{NAMESPACE},")
        self.packets = self.read_until(lambda packet: packet.startswith(f"40{NAMESPACE},"), timeout=10)

    def read_until(self, done, timeout: float) -> list[str]:
        """Packets until done(packet) holds, the connection ends, or `timeout` passes."""
        received, deadline = [], time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.ws.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                packet = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                break
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                self.closed = True
                break
            if not packet:  # a closing frame
                self.closed = True
                break
            received.append(packet)
            if packet == "2":
                self.pings += 1
                if self.answer_pings:
                    self.ws.send("3")
            if done(packet):
                break
        return received

    def close(self) -> None:
        self.ws.close()
        # close() returns at once when the server closed first (it answered that close frame), leaving the socket open.
        self.ws.shutdown()


def test_the_server_announces_the_configured_ping_interval_and_timeout(server, admin_session):
    client = EngineIOClient(server, admin_session, answer_pings=True)
    try:
        assert client.open["pingTimeout"] == PING_TIMEOUT * 1000
        assert client.open["pingInterval"] >= PING_INTERVAL * 1000
    finally:
        client.close()


def test_a_quiet_client_that_answers_pings_is_pinged_each_interval_and_stays(server, admin_session):
    client = EngineIOClient(server, admin_session, answer_pings=True)
    try:
        client.read_until(lambda packet: False, timeout=4.5 * PING_INTERVAL)
        assert not client.closed
        assert 3 <= client.pings <= 5
        # still served: the namespace answers its own ping event
        client.ws.send(f'42{NAMESPACE},["ping"]')
        answer = client.read_until(lambda packet: '"pong"' in packet, timeout=5)
        assert any('"pong"' in packet for packet in answer)
    finally:
        client.close()


def test_a_client_that_stops_answering_pings_is_dropped_after_the_timeout(server, admin_session):
    client = EngineIOClient(server, admin_session, answer_pings=False)
    try:
        started = time.monotonic()
        client.read_until(lambda packet: False, timeout=PING_INTERVAL + PING_TIMEOUT + 8)
        assert client.closed, "the server kept a client that never answered a ping"
        assert client.pings == 1
        assert time.monotonic() - started >= PING_INTERVAL + PING_TIMEOUT - 0.5
    finally:
        client.close()


def test_every_push_arrives_once_and_in_order_across_an_upgrade_from_long_polling(server, admin_session):
    client = SocketClient(server, admin_session, transports=["polling", "websocket"])
    try:
        client.emit("join_room", {"room": "notifications"})
        client.wait_for(lambda events: any(name == "status" and "notifications" in data["rooms"]
                                           for name, data in events))
        titles = [f"upgrade {index}" for index in range(30)]
        for title in titles:  # the first ones go out while the client may still be upgrading
            response = admin_session.post(server.url + "/admin/api/notifications", json={"title": title}, timeout=10)
            assert response.status_code == 201, response.text

        def received(events):
            seen = [item["title"] for name, data in events if name == "notification" for item in data["items"]]
            return seen if len(seen) >= len(titles) else None

        assert client.wait_for(received) == titles
        client.wait_for(lambda events: client.sio.transport() == "websocket")
    finally:
        client.close()
