"""Engine.IO's WebSocket transport under eventlet with one greenlet per connection instead of three.

python-engineio gives every WebSocket three greenlets: the server's request greenlet that reads frames, a
writer that waits on the socket's queue, and a ping timer that sleeps out each ping interval; with their
saved stacks, timers and waiters they made up most of what a dashboard costs the server beyond its socket
(README, Benchmarks). Installed, a socket on WebSocket writes each frame from the greenlet that sends it, a
non-blocking write that the kernel almost always takes whole; only while a client's socket is full does a
greenlet wait on it, and that greenlet ends once the backlog is written. One clock greenlet per server
sends every socket its PING. Long-polling and the upgrade handshake keep python-engineio's own code.

It leans on internals of python-engineio (engineio_internals) and eventlet (eventlet_internals), so
`install()` checks both: their versions against those it was verified with (tests/e2e/test_websocket_transport.py)
and that everything it uses is there. If anything differs, or WEBSOCKET_TRANSPORT=upstream, python-engineio's
own transport runs, and the server works as it would without this module.
"""
import collections
import logging
import time
from importlib.metadata import version
from socket import SHUT_RDWR, SHUT_WR

from engineio import packet

from services.realtime import engineio_internals, eventlet_internals
from services.realtime.fanout import Backlog

log = logging.getLogger(__name__)

FAST, UPSTREAM = "fast", "upstream"  # the values of WEBSOCKET_TRANSPORT
CHOICES = (FAST, UPSTREAM)
LIBRARIES = (engineio_internals, eventlet_internals)  # each: PACKAGE, VERIFIED_VERSION, REQUIRED, probes()
DRAIN_CHUNK_BYTES = 64 * 1024  # whole frames per write while a backlog drains; eventlet's own frames fit between
clocks: dict = {}  # engine.io server -> its PingClock


def install(choice: str = FAST) -> bool:
    """Use this transport for every Engine.IO socket of the process; False when python-engineio's runs instead.

    `choice` is WEBSOCKET_TRANSPORT. With "fast", libraries other than those this transport was verified
    with make it stand aside, with one warning that says why.
    """
    if choice not in CHOICES:
        raise ValueError(f"WEBSOCKET_TRANSPORT must be {FAST} or {UPSTREAM}, not {choice!r}")
    if choice == UPSTREAM:
        log.info("WEBSOCKET_TRANSPORT=upstream: WebSockets run on python-engineio's own transport")
        return False
    unmet = [reason for library in LIBRARIES for reason in unmet_by(library)]
    if unmet:
        log.warning("WebSockets fall back to python-engineio's own transport (three greenlets each), because %s; "
                    "WEBSOCKET_TRANSPORT=upstream chooses it without this warning", "; ".join(unmet))
        return False
    engineio_internals.patch_socket(FrameWriter, ping_clock_of)
    return True


def unmet_by(library) -> list[str]:
    """What of this transport's needs the installed `library` does not meet: its version, or what it lacks."""
    installed = version(library.PACKAGE)
    if not installed.startswith(library.VERIFIED_VERSION):
        return [f"{library.PACKAGE} is {installed}, not the {library.VERIFIED_VERSION}x it was verified with"]
    try:
        probes = library.probes()
    except Exception as error:  # noqa: BLE001 - a release that changed them this much does not match either
        return [f"{library.PACKAGE} {installed} failed to make the objects to check: {error!r}"]
    return [f"{library.PACKAGE} {installed} has no {owner}.{name}"
            for owner, names in library.REQUIRED.items() for name in names if not hasattr(probes[owner], name)]


def ping_clock_of(server) -> "PingClock":
    clock = clocks.get(server)
    if clock is None:
        clock = clocks[server] = PingClock(server)
    return clock


def unsent(engine_socket) -> Backlog:
    """What was sent to a socket that its client has not taken yet (queued, or waiting for a full socket).

    The upstream transport queues packets before encoding them, so there only their number is known.
    """
    frames = getattr(engine_socket, "frames", None)
    if frames is None:
        return Backlog(engine_socket.queue.qsize(), 0)
    return Backlog(len(frames.backlog), sum(map(len, frames.backlog)))


def drop(engine_socket) -> None:
    """End a connection now, with what it has not taken yet: for a client too slow to keep up."""
    frames = getattr(engine_socket, "frames", None)
    if frames is not None:
        frames.abandon()
    engine_socket.close(wait=False, abort=True)


class FrameWriter:
    """The frames of one WebSocket, written by whoever sends them while the client keeps up.

    A frame the kernel does not take whole waits in `backlog`, and one greenlet writes the backlog as the
    client reads it, so a slow client never holds up the broadcast that is writing to everyone else.
    eventlet's own WebSocket writes (a pong, a closing frame) take the same lock, so frames never interleave.
    """
    __slots__ = ("ws", "os_socket", "lock", "encode", "backlog", "draining", "closing", "spawn", "sleep")

    def __init__(self, ws, spawn, sleep) -> None:
        self.ws, self.spawn, self.sleep = ws, spawn, sleep
        self.os_socket = eventlet_internals.os_socket(ws)
        self.lock = eventlet_internals.send_lock(ws)
        self.encode = eventlet_internals.frame_encoder(ws)
        self.backlog: list[bytes] = []  # almost always empty: a list is much smaller than an empty deque
        self.draining = self.closing = False

    def write(self, text: str) -> None:
        if not self.closing:
            self._enqueue(self.encode(text))

    def close(self) -> None:
        """Send the closing frame after what is already queued, then end the connection."""
        if self.closing:
            return
        self.closing = True
        if eventlet_internals.is_closed(self.ws):  # the client closed it, and eventlet answered and closed the socket
            return
        self._enqueue(self.encode("", control_code=8))
        if not self.draining:
            self._finish()

    def _enqueue(self, frame: bytes) -> None:
        self.backlog.append(frame)
        if self.draining:
            return
        if not self.lock.acquire(blocking=False):  # eventlet is writing a frame of its own
            self._start_draining(locked=False)
            return
        try:
            written = self._write_without_waiting()
        except OSError:
            self.lock.release()
            self.abandon()
            return
        if written:
            self.lock.release()
        else:
            self._start_draining(locked=True)

    def _write_without_waiting(self) -> bool:
        """Write frames while the kernel takes them; True once the backlog is empty."""
        backlog = self.backlog
        while backlog:
            frame = backlog[0]
            try:
                sent = self.os_socket.send(frame)
            except BlockingIOError:
                return False
            if sent < len(frame):
                backlog[0] = frame[sent:]
                return False
            del backlog[0]
        return True

    def _start_draining(self, locked: bool) -> None:
        self.draining = True
        self.spawn(self._drain, locked)

    def _drain(self, locked: bool) -> None:
        """Write the backlog as the client reads it, some whole frames at a time. Between two writes the lock
        is free for eventlet's own frames: the reader greenlet that answers a WebSocket ping goes on reading."""
        try:
            while True:
                if not locked:
                    self.lock.acquire()
                    locked = True
                if not self.backlog:
                    break
                count = frames_within(self.backlog, DRAIN_CHUNK_BYTES)
                # Blocks this greenlet alone, up to the socket's timeout (a ping interval plus its timeout).
                eventlet_internals.green_socket(self.ws).sendall(b"".join(self.backlog[:count]))
                del self.backlog[:count]
                self.lock.release()
                locked = False
                self.sleep(0)
        except BaseException as error:
            self.abandon()  # a frame may be half written: nothing may follow it on this connection
            if not isinstance(error, OSError):
                raise
        finally:
            if locked:
                self.lock.release()
            self.draining = False
        if self.closing:
            self._finish()

    def _finish(self) -> None:
        """After our closing frame: no more writes. The reader greenlet reads on until the client answers
        or goes (or the socket times out), as eventlet's own close does; shutting the reading side too
        would make the kernel reset the connection at the client's next packet, losing what is unsent."""
        if not eventlet_internals.is_closed(self.ws):  # else the client closed it, or it was abandoned
            self._shut_down(SHUT_WR)

    def abandon(self) -> None:
        """The client is gone or cannot keep up: drop its backlog and end the connection both ways, which
        ends the reader greenlet too."""
        self.backlog.clear()
        self.closing = True
        self._shut_down(SHUT_RDWR)

    def _shut_down(self, how: int) -> None:
        # Closing the socket instead would pull it from under the reader greenlet (eventlet then logs EBADF).
        eventlet_internals.mark_closed(self.ws)
        try:
            self.os_socket.shutdown(how)
        except OSError:
            pass


def frames_within(frames: list[bytes], limit: int) -> int:
    """How many leading frames fit in `limit` bytes (at least one)."""
    total = 0
    for count, frame in enumerate(frames):
        total += len(frame)
        if total > limit:
            return max(count, 1)
    return len(frames)


class PingClock:
    """Sends each socket its PING one ping interval after the last PONG, from one greenlet for all sockets.

    Every socket waits the same interval, so they come due in the order they were scheduled: a queue,
    not a heap.
    """

    def __init__(self, server) -> None:
        self.server = server
        self.due: collections.deque = collections.deque()
        server.start_background_task(self._run)

    def schedule(self, socket) -> None:
        self.due.append((time.monotonic() + self.server.ping_interval, socket))

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            while self.due and self.due[0][0] <= now:
                socket = self.due.popleft()[1]
                if socket.closing or socket.closed:
                    continue
                socket.last_ping = time.time()
                try:
                    socket.send(packet.Packet(packet.PING))
                except Exception:  # noqa: BLE001 - one broken socket must not stop the pings of all others
                    log.exception("could not ping Engine.IO socket %s", socket.sid)
            self.server.sleep(self.due[0][0] - now if self.due else self.server.ping_interval)
