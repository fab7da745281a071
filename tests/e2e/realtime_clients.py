"""Real Socket.IO and SSE clients for end-to-end tests against a server process."""
import threading
import time

import requests
import socketio

NAMESPACE = "/admin"


class SocketClient:
    """A python-socketio client (WebSocket unless told) that records every event of the /admin namespace."""

    def __init__(self, server, session: requests.Session | None = None, transports: tuple = ("websocket",)):
        self.events: list[tuple[str, dict]] = []
        self.arrived = threading.Condition()
        # Ours to close: python-engineio drops the session it makes for long-polling without closing it, and the
        # socket it leaves open fails the test that made it (ResourceWarning; warnings are errors).
        self.http = requests.Session()
        self.sio = socketio.Client(reconnection=False, http_session=self.http)
        self.sio.on("*", self.record, namespace=NAMESPACE)
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies) if session else ""
        self.sio.connect(server.url, namespaces=[NAMESPACE], transports=list(transports),
                         headers={"Cookie": cookie} if cookie else {}, wait_timeout=10)

    def record(self, event, data=None):
        with self.arrived:
            self.events.append((event, data))
            self.arrived.notify_all()

    def emit(self, event, data=None):
        self.sio.emit(event, data, namespace=NAMESPACE)

    def wait_for(self, predicate, timeout: float = 10.0):
        """Wait until predicate(events) is truthy and return its value; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                value = predicate(self.events)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"timed out; events so far: {[name for name, _ in self.events]}"
                self.arrived.wait(remaining)

    def payloads(self, name: str) -> list[dict]:
        with self.arrived:
            return [data for event, data in self.events if event == name]

    def close(self):
        self.sio.disconnect()
        self.http.close()


class SseReader:
    """Parses SSE frames from a streamed response; frames are dicts of field -> value, comments under "comment"."""

    def __init__(self, response):
        self.response, self.frames, self.buffer = response, [], ""
        self.chunks = response.iter_content(chunk_size=None, decode_unicode=True)

    def read_until(self, predicate, timeout: float = 10.0) -> list[dict]:
        """Read until predicate(all frames so far) holds; return the frames read by this call."""
        start, deadline = len(self.frames), time.monotonic() + timeout
        while not predicate(self.frames):
            assert time.monotonic() < deadline, f"timed out; frames so far: {self.frames}"
            self.buffer += next(self.chunks)
            while "\n\n" in self.buffer:
                raw, self.buffer = self.buffer.split("\n\n", 1)
                self.frames.append(parse_frame(raw))
        return self.frames[start:]

    def close(self):
        self.response.close()


def parse_frame(raw: str) -> dict:
    frame = {}
    for line in raw.split("\n"):
        key, _, value = line.partition(":")
        frame[key or "comment"] = value.strip()
    return frame
