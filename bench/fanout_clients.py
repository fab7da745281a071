"""A load generator: N Socket.IO clients over raw WebSocket in one asyncio process, for bench.fanout.

Each client speaks Engine.IO v4 / Socket.IO v5 itself (`GET /socket.io/?EIO=4&transport=websocket`,
`40<ns>,`, one join event, answering pings `2` with `3`), on a bare asyncio.Protocol: a few µs of
client CPU per message, so on two cores the clients disturb the server they measure as little as
possible. Every push of `--event` carries marks "bench <k> <sent>" (in `items[].title`, or `k`/`t`);
the arrival time of each mark is kept per client.

Control, one JSON object a line: on stdout {"phase": "connected", ...} once every client joined or
failed, {"complete": k} once every joined client got mark k, {"phase": "done"} after the results file
is written. The process writes its results and exits when stdin says "report" or closes, or at
--max-seconds, whichever comes first.

Longer than our other modules on purpose: it runs as a process of its own, and its Engine.IO/Socket.IO framing
stays beside the one control loop that uses it.
"""
import argparse
import asyncio
import base64
import gc
import json
import os
import sys
import time
from datetime import datetime
from urllib.parse import urlsplit

ZERO_MASK = b"\x00\x00\x00\x00"  # a valid masking key; the server unmasks, and XOR with 0 costs nothing


def frame(text: str) -> bytes:
    """One masked text frame (client to server)."""
    data = text.encode()
    size = len(data)
    if size < 126:
        header = bytes((0x81, 0x80 | size))
    elif size < 65536:
        header = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + ZERO_MASK + data


def marks_of(data) -> list[tuple[int, float]]:
    """(k, sent) marks of one push: each item's title (or id) "bench <k> <sent>", or the payload's own k/t."""
    if isinstance(data, dict) and "items" in data:
        found = []
        for item in data["items"]:
            parts = str(item.get("title") or item.get("id") or "").split()
            if len(parts) == 3 and parts[0] == "bench":
                found.append((int(parts[1]), float(parts[2])))
        return found
    if isinstance(data, dict) and "k" in data:
        return [(int(data["k"]), float(data["t"]))]
    return []


def epoch(ts) -> float | None:
    if isinstance(ts, (int, float)):
        return float(ts)
    try:
        return datetime.fromisoformat(ts).timestamp()
    except (TypeError, ValueError):
        return None


class Client(asyncio.Protocol):
    def __init__(self, index: int, run: "Run") -> None:
        self.index, self.run = index, run
        self.transport = None
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments: list[bytes] = []
        self.joined = run.loop.create_future()
        self.closed = False

    # -- transport
    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {self.run.host}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n")
        if self.run.cookie:
            request += f"Cookie: {self.run.cookie}\r\n"
        transport.write((request + "\r\n").encode())

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.run.lost_connections += 1 if self.joined.done() and not self.run.stopping else 0
        self.fail(f"connection lost: {exc!r}")

    def fail(self, reason: str) -> None:
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(reason))

    def send(self, text: str) -> None:
        if not self.closed:
            self.transport.write(frame(text))

    def data_received(self, data: bytes) -> None:  # noqa: C901 — one pass over the bytes: the client's hot loop
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:buffer.find(b"\r\n")])
            if b" 101 " not in status:
                self.fail(f"handshake refused: {status.decode(errors='replace')}")
                self.transport.close()
                return
            del buffer[:end + 4]
            self.upgraded = True
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            size, start = second & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            mask = None
            if second & 0x80:  # servers do not mask, but stay correct if one does
                mask, start = buffer[start:start + 4], start + 4
            if len(buffer) < start + size:
                return
            payload = bytes(buffer[start:start + size])
            del buffer[:start + size]
            if mask:
                payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
            self.on_frame(first & 0x80, first & 0x0F, payload, now)

    def on_frame(self, fin: int, opcode: int, payload: bytes, now: float) -> None:
        if opcode == 0x9:  # ping -> pong, masked
            self.transport.write(bytes((0x8A, 0x80 | len(payload))) + ZERO_MASK + payload)
            return
        if opcode == 0x8:
            self.transport.close()
            return
        if opcode in (0x1, 0x2, 0x0):
            self.fragments.append(payload)
            if fin:
                message, self.fragments = b"".join(self.fragments), []
                self.on_message(message.decode(), now)

    # -- Engine.IO / Socket.IO
    def on_message(self, text: str, now: float) -> None:
        kind = text[:1]
        if kind == "2":  # engine.io ping
            self.send("3")
        elif kind == "0":  # engine.io open
            self.run.opened(json.loads(text[1:]), now)
            self.send(f"40{self.run.namespace},")
        elif kind == "4":
            self.on_socketio(text[1:], now)
        elif kind == "1":
            self.transport.close()

    def on_socketio(self, text: str, now: float) -> None:
        prefix = self.run.prefix
        kind, body = text[:1], text[1:]
        if body.startswith(prefix):
            body = body[len(prefix):]
        if kind == "0":
            self.send(f"42{prefix}{self.run.join}")
        elif kind == "4":
            self.fail(f"namespace refused: {body[:200]}")
            self.transport.close()
        elif kind == "2":
            event = json.loads(body)
            name, data = event[0], event[1] if len(event) > 1 else None
            if name == self.run.event:
                self.run.arrived(self.index, data, now)
            elif name == self.run.joined_event and not self.joined.done() and self.run.is_join_ack(data):
                self.joined.set_result(now)


class Run:
    def __init__(self, args) -> None:
        url = urlsplit(args.url)
        self.host, self.port = url.hostname, url.port
        self.loop = asyncio.get_running_loop()
        self.cookie, self.namespace, self.event, self.joined_event = args.cookie, args.namespace, args.event, args.joined_event
        self.prefix = "" if args.namespace == "/" else f"{args.namespace},"
        self.join = args.join
        self.room = args.room
        self.offset = args.offset
        self.arrivals: list[tuple[int, int, float]] = []  # (client, k, arrival)
        self.firsts: dict[int, set[int]] = {}  # k -> clients that got it
        self.server_ts: dict[int, float | None] = {}
        self.sent: dict[int, float] = {}
        self.clients: list[Client] = []
        self.joined = 0
        self.lost_connections = 0
        self.stopping = False
        self.first_open = self.last_open = self.ping_interval = None

    def opened(self, handshake: dict, now: float) -> None:
        """The server pings each client every pingInterval from its open: a burst of opens makes a burst of pings."""
        self.ping_interval = handshake.get("pingInterval", 25000) / 1000
        self.first_open = self.first_open or now
        self.last_open = now

    def is_join_ack(self, data) -> bool:
        if not isinstance(data, dict):
            return False
        rooms = data.get("rooms", [data.get("room")])
        return self.room in rooms

    def arrived(self, client: int, data, now: float) -> None:
        for k, sent in marks_of(data):
            self.arrivals.append((client, k, now))
            got = self.firsts.setdefault(k, set())
            if k not in self.server_ts:
                self.server_ts[k] = epoch(data.get("ts"))
                self.sent[k] = sent
            if client not in got:
                got.add(client)
                if len(got) == self.joined:
                    say({"complete": k})

    async def connect_one(self, index: int, gate: asyncio.Semaphore, timeout: float) -> str | None:
        async with gate:
            try:
                _, client = await asyncio.wait_for(
                    self.loop.create_connection(lambda: Client(index, self), self.host, self.port), timeout)
                self.clients.append(client)
                await asyncio.wait_for(asyncio.shield(client.joined), timeout)
                return None
            except Exception as error:  # noqa: BLE001 - counted and reported, never fatal
                return f"{type(error).__name__}: {error}"[:200]

    async def connect_all(self, count: int, concurrency: int, timeout: float) -> dict:
        gate = asyncio.Semaphore(concurrency)
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(self.connect_one(self.offset + i, gate, timeout) for i in range(count)))
        elapsed = time.perf_counter() - started
        errors = [outcome for outcome in outcomes if outcome]
        self.joined = count - len(errors)
        summary = {}
        for error in errors:
            summary[error] = summary.get(error, 0) + 1
        return {"phase": "connected", "connected": self.joined, "failed": len(errors), "connect_s": round(elapsed, 3),
                "errors": dict(sorted(summary.items(), key=lambda item: -item[1])[:5]), "pid": os.getpid(),
                "opens": [self.first_open, self.last_open], "ping_interval_s": self.ping_interval}

    def results(self) -> dict:
        return {"joined": self.joined, "lost_connections": self.lost_connections, "arrivals": self.arrivals,
                "server_ts": self.server_ts, "sent": self.sent, "client_cpu_s": round(time.process_time(), 3)}


def say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main(args) -> None:
    run = Run(args)
    deadline = run.loop.time() + args.max_seconds
    stop = asyncio.Event()

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line or line.strip() == "report":
            stop.set()

    run.loop.add_reader(sys.stdin.fileno(), on_stdin)
    connecting = asyncio.ensure_future(run.connect_all(args.count, args.concurrency, args.connect_timeout))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({connecting, stopped}, timeout=args.max_seconds, return_when=asyncio.FIRST_COMPLETED)
    if connecting.done():
        # A full collection over the growing arrival records pauses every client for up to ~100 ms, and at
        # the same broadcast in every client process; the run is short and bounded, so collect no more.
        gc.collect()
        gc.freeze()
        gc.disable()
        say(connecting.result())
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, deadline - run.loop.time()))
        except asyncio.TimeoutError:
            pass
    else:
        connecting.cancel()
        say({"phase": "connected", "connected": 0, "failed": args.count, "connect_s": None,
             "errors": {"stopped or timed out while connecting": args.count}})
    run.stopping = True
    with open(args.results, "w") as out:
        json.dump(run.results(), out)
    for client in run.clients:
        if client.transport is not None:
            client.transport.close()
    await asyncio.sleep(0.2)
    say({"phase": "done"})


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cookie", default="")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0, help="first client number (several processes)")
    parser.add_argument("--namespace", default="/admin")
    parser.add_argument("--join", default='["join_room",{"room":"notifications"}]', help="the join event, as JSON")
    parser.add_argument("--room", default="notifications")
    parser.add_argument("--joined-event", default="status", help="the server's answer to the join")
    parser.add_argument("--event", default="notification", help="the pushed event to time")
    parser.add_argument("--concurrency", type=int, default=48, help="connections being opened at once")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="hard limit on this process's life")
    parser.add_argument("--results", required=True, help="file for the arrivals (JSON)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # die with the benchmark
    except OSError:
        pass
    asyncio.run(main(parse_args()))
