"""Engine.IO's WebSocket transport under eventlet with one greenlet per connection instead of three.

python-engineio gives every WebSocket three greenlets: the server's request greenlet that reads frames, a
writer that waits on the socket's queue, and a ping timer that sleeps out each ping interval. Each costs
about 8 KB under eventlet (its saved C stack, a page of Python data stack, its timers and waiters), which
made up most of what a dashboard costs the server beyond its socket (bench/fanout.py). Installed, a socket
on WebSocket writes each frame from the greenlet that sends it, a non-blocking write that the kernel
almost always takes whole; only while a client's socket is full does a greenlet wait on it, and that
greenlet ends once the backlog is written. One clock greenlet per server sends every socket its PING.
Long-polling and the upgrade handshake keep python-engineio's own code.

`http_protocol()` is eventlet's HTTP handler to serve with: small buffers, freed once its connection is a
WebSocket. `install()` patches python-engineio's Socket class, and does so only for the version this module was
written against and tested with (tests/e2e/test_websocket_transport.py); any other version is left alone.
"""
import collections
import logging
import time
from importlib.metadata import version
from socket import SHUT_RDWR, SHUT_WR

from engineio import exceptions, packet
from engineio import socket as engineio_socket

log = logging.getLogger(__name__)

RELEASE_HTTP_BUFFERS = "pulseboard.release_http_buffers"  # environ key: frees the connection's HTTP buffers
VERIFIED_VERSION = "4.15."  # python-engineio releases whose Socket these replacements mirror
DRAIN_CHUNK_BYTES = 64 * 1024  # whole frames per write while a backlog drains; eventlet's own frames fit between
Socket = engineio_socket.Socket
upstream = {"send": Socket.send, "close": Socket.close, "websocket_handler": Socket._websocket_handler}
clocks: dict = {}  # engine.io server -> its PingClock


def install() -> bool:
    """Use this transport for every Engine.IO socket of the process; False if python-engineio is another version."""
    installed = version("python-engineio")
    if not installed.startswith(VERIFIED_VERSION):
        log.warning("python-engineio %s is not %sx: WebSockets keep its own transport (three greenlets each)",
                    installed, VERIFIED_VERSION)
        return False
    Socket.frames = None  # a socket's FrameWriter once it is on WebSocket
    Socket.send, Socket.close = send, close
    Socket.schedule_ping, Socket._websocket_handler = schedule_ping, websocket_handler
    return True


def http_protocol() -> type:
    """eventlet's HTTP handler with smaller buffers, and a way to free them when the connection is upgraded.

    A connection keeps its buffers for its whole life, a WebSocket too, which reads and writes its socket
    directly; eventlet's 8 KB + 16 KB were the largest part of a dashboard's memory (tracemalloc, 1,000
    connections), and 2 KB + 4 KB still cost 6 KB of RSS each. Larger requests and responses pass
    straight through a buffer.
    """
    import eventlet.wsgi

    class CompactHttpProtocol(eventlet.wsgi.HttpProtocol):
        rbufsize, wbufsize = 2048, 4096

        def get_environ(self):
            environ = super().get_environ()
            environ[RELEASE_HTTP_BUFFERS] = self.release_buffers
            return environ

        def release_buffers(self) -> None:
            # A client sends no frame before it has the handshake's answer, so nothing is left unread.
            self.rfile.close()
            self.wfile.close()

    return CompactHttpProtocol


def unsent_packets(engine_socket) -> int:
    """Packets sent to a socket that its client has not taken yet (queued, or waiting for a full socket)."""
    frames = getattr(engine_socket, "frames", None)
    return len(frames.backlog) if frames is not None else engine_socket.queue.qsize()


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
    __slots__ = ("ws", "os_socket", "lock", "backlog", "draining", "closing", "spawn", "sleep")

    def __init__(self, ws, spawn, sleep) -> None:
        self.ws, self.spawn, self.sleep = ws, spawn, sleep
        self.os_socket = ws.socket.fd  # eventlet keeps it non-blocking under its GreenSocket
        self.lock = ws._sendlock
        self.backlog: list[bytes] = []  # almost always empty: a list is a tenth of an empty deque
        self.draining = self.closing = False

    def write(self, text: str) -> None:
        if not self.closing:
            self._enqueue(self.ws._pack_message(text))

    def close(self) -> None:
        """Send the closing frame after what is already queued, then end the connection."""
        if self.closing:
            return
        self.closing = True
        if self.ws.websocket_closed:  # the client closed it, and eventlet answered and closed the socket
            return
        self._enqueue(self.ws._pack_message("", control_code=8))
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
                self.ws.socket.sendall(b"".join(self.backlog[:count]))
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
        if not self.ws.websocket_closed:  # else the client closed it, or it was abandoned
            self._shut_down(SHUT_WR)

    def abandon(self) -> None:
        """The client is gone or cannot keep up: drop its backlog and end the connection both ways, which
        ends the reader greenlet too."""
        self.backlog.clear()
        self.closing = True
        self._shut_down(SHUT_RDWR)

    def _shut_down(self, how: int) -> None:
        # Closing the socket instead would pull it from under the reader greenlet (eventlet then logs EBADF).
        self.ws.websocket_closed = True  # eventlet sends no closing frame of its own after this
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


# -- the replacements of python-engineio's Socket methods


def schedule_ping(self) -> None:
    if self.last_ping:  # as upstream: only once the previous ping was answered
        self.last_ping = None
        clock = clocks.get(self.server)
        if clock is None:
            clock = clocks[self.server] = PingClock(self.server)
        clock.schedule(self)


def send(self, pkt) -> None:
    if self.frames is None:
        upstream["send"](self, pkt)
    elif self.check_ping_timeout():
        self.frames.write(pkt.encode())


def close(self, wait: bool = True, abort: bool = False, reason=None) -> None:
    """Upstream's close, except that on WebSocket it never waits for a slow client: the frames already sent
    are still written (or dropped when the client is gone) by the socket's FrameWriter."""
    if self.frames is None:
        upstream["close"](self, wait, abort, reason)
        return
    if self.closed or self.closing:
        return
    self.closing = True
    self.server._trigger_event("disconnect", self.sid, reason or self.server.reason.SERVER_DISCONNECT,
                               run_async=False)
    if not abort:
        self.send(packet.Packet(packet.CLOSE))
    self.closed = True
    self.frames.close()


def websocket_handler(self, ws):  # noqa: C901 — upstream's shape, kept so a diff against it stays reviewable
    """python-engineio 4.15's Socket._websocket_handler, with the writer greenlet replaced by a FrameWriter."""
    if ws.version not in (8, 13):  # a pre-RFC 6455 (hixie-76) client has no control frames to close with
        return upstream["websocket_handler"](self, ws)

    def websocket_wait():
        data = ws.wait()
        if data and len(data) > self.server.max_http_buffer_size:
            raise ValueError("packet is too large")
        return data

    ws.socket.settimeout(self.server.ping_interval + self.server.ping_timeout)
    if self.connected:  # an upgrade from long-polling
        self.upgrading = True  # sends are held in the queue until the upgrade completes
        pkt = websocket_wait()
        decoded = packet.Packet(encoded_packet=pkt)
        if decoded.packet_type != packet.PING or decoded.data != "probe":
            self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
            self.upgrading = False
            return []
        ws.send(packet.Packet(packet.PONG, data="probe").encode())
        self.queue.put(packet.Packet(packet.NOOP))  # ends the pending long-poll
        pkt = websocket_wait()
        if packet.Packet(encoded_packet=pkt).packet_type != packet.UPGRADE:
            self.server.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.",
                                    self.sid, pkt)
            self.upgrading = False
            return []
    else:
        self.connected = True
    release_http_buffers = ws.environ.get(RELEASE_HTTP_BUFFERS)
    if release_http_buffers is not None:
        release_http_buffers()
    frames = FrameWriter(ws, self.server.start_background_task, self.server.sleep)
    for pkt in queued_packets(self.queue):  # sent before or during the upgrade: they go first
        if pkt is None:
            frames.close()
            break
        frames.write(pkt.encode())
    self.frames = frames
    self.upgraded, self.upgrading = True, False
    self.server.logger.info("%s: Upgrade to websocket successful", self.sid)

    while True:
        try:
            received = websocket_wait()
        except Exception as error:  # noqa: BLE001 - as upstream: any read error ends the connection
            if not self.closed:
                self.server.logger.info('%s: Unexpected error "%s", closing connection', self.sid, error)
            break
        if received is None:  # the client closed the connection
            break
        try:
            self.receive(packet.Packet(encoded_packet=received))
        except exceptions.UnknownPacketError:
            pass
        except exceptions.SocketIsClosedError:
            self.server.logger.info("Receive error -- socket is closed")
            break
        except Exception:  # noqa: BLE001 - as upstream: log it and close the connection properly
            self.server.logger.exception("Unknown receive error")
            break
    self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
    return []


def queued_packets(queue):
    while not queue.empty():
        pkt = queue.get(block=False)
        queue.task_done()
        yield pkt
