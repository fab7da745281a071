"""A real HTTP webhook receiver for tests: records what it is sent and answers a scripted sequence of statuses.

    with WebhookReceiver(statuses=[500, 200]) as hook:
        ...point a receiver at hook.url...
        hook.wait_for(2, timeout=5)
        assert [request["status"] for request in hook.requests] == [500, 200]
        assert hook.requests[-1]["body"]["status"] == "firing"

Each request is recorded as it arrives, as {"path", "headers", "body" (parsed JSON, or None), "raw" (bytes),
"status" (what it is answered)}. Once the script is used up, its last status repeats. `delay` seconds pass before
each answer (a slow or hanging endpoint); `headers` go with each answer. It listens on 127.0.0.1 on a free port
and stops when the `with` block ends.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self, statuses: list[int] = (200,), delay: float = 0.0, headers: dict | None = None) -> None:
        self.statuses, self.delay, self.headers = list(statuses), delay, headers or {}
        self.requests: list[dict] = []
        self.lock = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    @property
    def bodies(self) -> list:
        """The JSON bodies received, in order."""
        with self.lock:
            return [request["body"] for request in self.requests]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Block until at least `count` requests have arrived; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver got {len(self.requests)} requests, not {count}, in {timeout} s")
                self.lock.wait(left)
            return list(self.requests)

    def _next_status(self) -> int:
        return self.statuses[min(len(self.requests), len(self.statuses) - 1)]

    def _record(self, handler: BaseHTTPRequestHandler) -> int:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self.lock:
            status = self._next_status()
            self.requests.append({"path": handler.path, "headers": dict(handler.headers), "body": body, "raw": raw,
                                  "status": status})
            self.lock.notify_all()
            return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                status = receiver._record(self)
                time.sleep(receiver.delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "2")
                    for name, value in receiver.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender gave up waiting (a timeout test)
                    pass

            def log_message(self, *_args) -> None:  # keep test output quiet
                pass

        return Handler
