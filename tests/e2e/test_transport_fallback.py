"""A real server on library versions the fast WebSocket transport does not know: it starts on python-engineio's
own transport, says so once, and pushes still arrive; a WEBSOCKET_TRANSPORT it does not know stops it."""
import json

import pytest

from tests.e2e.realtime_clients import SocketClient, SseReader
from tests.e2e.transports import FALLBACK_WARNING, pretending
from tests.servers import LIVE_ADMIN, login_session

UNKNOWN_VERSION = "99.0.0"


@pytest.mark.parametrize("package", ["python-engineio", "eventlet"])
def test_an_unknown_library_version_falls_back_to_upstream_with_one_warning(server_factory, package):
    server = server_factory(ADMIN_PASSWORD=LIVE_ADMIN[1], **pretending(package, UNKNOWN_VERSION))
    output = server.output()
    assert output.count(FALLBACK_WARNING) == 1, output
    assert f"{package} is {UNKNOWN_VERSION}, not the" in output
    assert_pushes_reach_websocket_and_sse(server, f"on {package} {UNKNOWN_VERSION}")


def assert_pushes_reach_websocket_and_sse(server, title: str) -> None:
    """A notification reaches a Socket.IO client that upgraded from long-polling, and an SSE stream, with one seq."""
    session = login_session(server)
    client = SocketClient(server, session, transports=("polling", "websocket"))
    stream = SseReader(session.get(server.url + "/admin/api/stream?channels=notification", stream=True, timeout=10))
    try:
        client.emit("join_room", {"room": "notifications"})
        client.wait_for(lambda events: any("notifications" in status["rooms"] for status in client.payloads("status")))
        client.wait_for(lambda events: client.sio.transport() == "websocket")
        response = session.post(server.url + "/admin/api/notifications", json={"title": title}, timeout=10)
        assert response.status_code == 201, response.text
        [pushed] = client.wait_for(lambda events: client.payloads("notification"))
        assert [item["title"] for item in pushed["items"]] == [title]
        frames = stream.read_until(lambda frames: any(frame.get("event") == "notification" for frame in frames))
        notification = next(frame for frame in frames if frame.get("event") == "notification")
        assert json.loads(notification["data"])["seq"] == pushed["seq"]
    finally:
        stream.close()
        client.close()
        session.close()


def test_an_unknown_websocket_transport_setting_stops_the_server_with_a_clear_message(server_factory):
    with pytest.raises(RuntimeError) as stopped:
        server_factory(WEBSOCKET_TRANSPORT="quick")
    assert "WEBSOCKET_TRANSPORT must be fast or upstream, not 'quick'" in str(stopped.value)
