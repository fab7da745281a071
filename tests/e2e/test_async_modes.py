"""SOCKETIO_ASYNC_MODE is one setting: the same server pushes over WebSocket and SSE under gevent and threading."""
import json

import pytest

from tests.e2e.realtime_clients import SocketClient, SseReader
from tests.servers import LIVE_ADMIN, login_session


@pytest.mark.parametrize("mode", ["gevent", "threading"])
def test_pushes_reach_websocket_and_sse_clients(server_factory, mode):
    server = server_factory(SOCKETIO_ASYNC_MODE=mode, ADMIN_PASSWORD=LIVE_ADMIN[1])
    session = login_session(server)
    client = SocketClient(server, session)
    try:
        client.emit("join_room", {"room": "notifications"})
        client.wait_for(lambda events: any("notifications" in status["rooms"] for status in client.payloads("status")))
        stream = SseReader(session.get(server.url + "/admin/api/stream?channels=notification", stream=True, timeout=10))
        try:
            response = session.post(server.url + "/admin/api/notifications", json={"title": f"under {mode}"},
                                    timeout=10)
            assert response.status_code == 201, response.text
            pushed = client.wait_for(lambda events: client.payloads("notification"))
            assert [item["title"] for item in pushed[0]["items"]] == [f"under {mode}"]
            frames = stream.read_until(lambda frames: any(frame.get("event") == "notification" for frame in frames))
            notification = next(frame for frame in frames if frame.get("event") == "notification")
            assert json.loads(notification["data"])["items"][0]["title"] == f"under {mode}"
            # The same seq on both; an SSE id may put the stream's epoch before it (`<epoch>:<seq>`).
            assert notification["id"].rpartition(":")[2] == str(pushed[0]["seq"])
        finally:
            stream.close()
    finally:
        client.close()
