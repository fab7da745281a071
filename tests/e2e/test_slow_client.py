"""A Socket.IO client that stops reading, against a real server under a steady flow of pushes: it is evicted
once its backlog overflows, the server's memory stays bounded, and a normal client meanwhile gets every push
in time."""
import json
import socket
import threading
import time

import psutil
import pytest
import requests
import websocket

from tests.e2e.realtime_clients import SocketClient
from tests.e2e.test_ingest_server import create_api_key
from tests.servers import LIVE_ADMIN, login_session, start_server

ROOMS = ("metrics", "transactions", "activity", "alerts", "notifications")
BATCH = 200  # transactions per request: a push of ~26 KB, so a stalled client's backlog weighs something
MB = 1024 * 1024


@pytest.fixture
def server(tmp_path):
    """Pushes only from what the test ingests; a small replay buffer, so that memory does not grow with it;
    pings far apart, so that only the backlog check can end the silent client's connection."""
    process = start_server(tmp_path, ADMIN_PASSWORD=LIVE_ADMIN[1], SOCKETIO_PING_INTERVAL="300",
                           LIVE_UPDATE_INTERVAL="3600", SYSTEM_SAMPLE_INTERVAL="3600", REPLAY_BUFFER_SIZE="50",
                           INGEST_RATE_LIMIT="100000 per second")
    process.api_key = create_api_key(process)
    yield process
    process.stop()


class TimedClient(SocketClient):
    """Records when each event arrived (monotonic clock), to time pushes against the requests that caused them."""

    def __init__(self, *args, **kwargs):
        self.arrivals: list[float] = []
        super().__init__(*args, **kwargs)

    def record(self, event, data=None):
        with self.arrived:
            self.arrivals.append(time.monotonic())
        super().record(event, data)


def silent_client(server, session) -> websocket.WebSocket:
    """A raw Engine.IO/Socket.IO client with a tiny receive buffer: it joins every room, then never reads."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    ws = websocket.create_connection(server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
                                     cookie=cookie, timeout=10, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    assert ws.recv().startswith("0{")  # Engine.IO open
    ws.send("40/admin,")
    answers = sorted(ws.recv()[:12] for _ in range(2))  # the namespace's CONNECT and the status event
    assert answers == ['40/admin,{"s', '42/admin,["s'], answers
    for room in ROOMS:
        ws.send(json.dumps(["join_room", {"room": room}]).join(["42/admin,", ""]))
    return ws


class Sender:
    """Posts batches of transactions (with an activity and a metric point: three channels) until stopped,
    noting when each answer came back."""

    def __init__(self, server):
        self.server, self.answered, self.stop = server, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {self.server.api_key}"
            while not self.stop.is_set():
                n = len(self.answered)
                batch = [{"id": f"b{n}-{i}", "amount": "1.00", "currency": "USD", "status": "completed", "user_id": "u"}
                         for i in range(BATCH)]
                response = session.post(self.server.url + "/api/v1/events", timeout=30, json={
                    "transactions": batch, "activities": [{"user_id": "u", "action": "view"}],
                    "metrics": [{"name": "slow.test", "value": n}]})
                assert response.status_code == 202, response.text
                self.answered.append(time.monotonic())


class MemoryWatch:
    """The server's RSS, sampled every 100 ms."""

    def __init__(self, pid: int):
        self.process, self.samples, self.stop = psutil.Process(pid), [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.1):
            self.samples.append((time.monotonic(), self.process.memory_info().rss))

    def peak(self, since: float = 0.0) -> int:
        return max(rss for at, rss in self.samples if at >= since)

    def now(self) -> int:
        return self.process.memory_info().rss


def sockets_connected(server, session) -> int:
    health = session.get(server.url + "/admin/api/health", timeout=10).json()
    return health["components"]["realtime"]["clients"]["sockets"]


def push_latencies(client: TimedClient, answered: list[float]) -> list[float]:
    """Seconds from each batch's 202 to the arrival of the push holding its last transaction (never negative:
    a push may leave before the response)."""
    arrival_of = {}
    with client.arrived:
        for (event, data), at in zip(client.events, client.arrivals, strict=True):
            if event == "transaction":
                arrival_of.update((item["id"], at) for item in data["items"] if item["id"].endswith(f"-{BATCH - 1}"))
    return [max(0.0, arrival_of[f"b{n}-{BATCH - 1}"] - at) for n, at in enumerate(answered)]


def seqs_covered(client: TimedClient) -> list[int]:
    with client.arrived:
        pushes = [data for event, data in client.events if isinstance(data, dict) and "first_seq" in data]
    return sorted(seq for push in pushes for seq in range(push["first_seq"], push["seq"] + 1))


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(len(values) - 1, int(share * len(values)))]


@pytest.fixture
def clients(server):
    """The normal client and the silent one, both closed after the test."""
    session = login_session(server)
    normal = TimedClient(server, session)
    silent = silent_client(server, session)
    yield session, normal, silent
    normal.close()
    silent.close()


def test_a_client_that_stops_reading_is_evicted_without_growing_memory_or_delaying_others(server, clients):
    session, normal, silent = clients
    normal.emit("join_admin_room")
    for room in ROOMS:
        normal.emit("join_room", {"room": room})
    normal.wait_for(lambda events: len(normal.payloads("status")) == 1 + 1 + len(ROOMS))
    joined_at = normal.payloads("status")[-1]["seq"]
    assert sockets_connected(server, session) == 2
    memory, sender = MemoryWatch(server.process.pid), Sender(server)
    rss_before, started = memory.now(), time.monotonic()
    sender.thread.start()
    try:
        deadline = time.monotonic() + 90
        while sockets_connected(server, session) == 2:
            assert time.monotonic() < deadline, "the silent client was never evicted"
            time.sleep(0.2)
        evicted_at, batches_at_eviction = time.monotonic(), len(sender.answered)
        rss_at_eviction = memory.now()
        # As many batches again after the eviction: with the silent client still held, they would pile up too.
        while len(sender.answered) < 2 * batches_at_eviction:
            time.sleep(0.2)
    finally:
        sender.stop.set()
        sender.thread.join(timeout=30)
    time.sleep(0.5)  # the last pushes reach the normal client
    memory.stop.set()

    assert "behind; disconnecting it so it resumes" in server.output()
    # The server closed the silent client's connection: after what was already in its buffers comes the end.
    silent.sock.settimeout(10)
    while silent.sock.recv(1 << 20):
        pass

    latencies = push_latencies(normal, sender.answered)
    stalled = latencies[:batches_at_eviction]
    pushed = sum(len(json.dumps(data)) for _, data in normal.events)
    growth, after_eviction = memory.peak() - rss_before, memory.peak(since=evicted_at) - rss_at_eviction
    print(f"evicted after {batches_at_eviction} batches ({evicted_at - started:.1f} s); "
          f"{pushed / MB:.1f} MB pushed to each client; RSS {rss_before / MB:.1f} MB before, peak growth "
          f"{growth / MB:.1f} MB, {after_eviction / MB:.1f} MB above the eviction's afterwards; normal client's "
          f"push latency while the other was stalled p50 {percentile(stalled, 0.5) * 1000:.0f} ms, "
          f"p99 {percentile(stalled, 0.99) * 1000:.0f} ms, max {max(stalled) * 1000:.0f} ms")
    # Every push reached the normal client, once and in order, each within moments of its request.
    assert seqs_covered(normal) == list(range(joined_at + 1, seqs_covered(normal)[-1] + 1))
    assert percentile(stalled, 0.99) < 0.5 and max(latencies) < 2.0
    # Memory: a bounded backlog while it lasted (at most ~1,000 frames, a third of them ~26 KB), then nothing
    # more, although what was pushed meanwhile, had it piled up, would have grown it well past the bound.
    assert pushed > 22 * MB and growth < 18 * MB and after_eviction < 4 * MB
    assert "Traceback" not in server.output()
