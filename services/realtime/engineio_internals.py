"""Every use of python-engineio's and python-socketio's internals: on an upgrade of either, check this file.

The WebSocket transport (websocket_transport) replaces four methods of python-engineio's Socket class:
`send`, `close`, `schedule_ping` and `_websocket_handler`. Their replacements are here, kept close to
upstream's code (python-engineio 4.15) so that a diff against a new release shows what changed: they run on
the Socket's own state (its queue, `closing`, `last_ping`, ...) and fire events through the server's private
`_trigger_event`, as upstream does. `REQUIRED` and `probes()` name what they use, so that the transport can
check a release before it installs. `engine_socket` finds a Socket.IO client's Engine.IO socket, which
python-socketio offers no public way to do.
"""
import logging
from collections.abc import Callable

import engineio
from engineio import exceptions, packet
from engineio import socket as engineio_socket

from services.realtime import eventlet_internals

PACKAGE = "python-engineio"
VERIFIED_VERSION = "4.15."  # the releases whose Socket these replacements mirror, and were tested with
REPLACED = ("send", "close", "schedule_ping", "_websocket_handler")
REQUIRED = {
    "Socket": (*REPLACED, "receive", "check_ping_timeout", "queue", "server", "sid", "last_ping", "connected",
               "upgrading", "upgraded", "closing", "closed"),
    "Server": ("_trigger_event", "start_background_task", "sleep", "logger", "ping_interval", "ping_timeout",
               "max_http_buffer_size", "reason"),
    "Server.reason": ("SERVER_DISCONNECT", "TRANSPORT_CLOSE"),
}
log = logging.getLogger(__name__)
Socket = engineio_socket.Socket
upstream = {name: getattr(Socket, name) for name in REPLACED if hasattr(Socket, name)}
transport: dict = {}  # what patch_socket was given: the FrameWriter class, and the PingClock of a server


def probes() -> dict:
    """Real instances of what REQUIRED names: a Socket's state exists only once __init__ has run."""
    server = engineio.Server(async_mode="threading")
    return {"Socket": Socket(server, "probe"), "Server": server, "Server.reason": server.reason}


def patch_socket(frame_writer: type, ping_clock_of) -> None:
    """Make every Engine.IO socket of the process use the replacements below.

    `frame_writer(ws, spawn, sleep)` writes a WebSocket's frames; `ping_clock_of(server)` is the clock that
    pings the server's sockets.
    """
    transport.update(frame_writer=frame_writer, ping_clock_of=ping_clock_of)
    # Patched on the class: python-engineio makes its sockets itself, with no factory to hand ours to.
    Socket.frames = None  # a socket's FrameWriter once it is on WebSocket
    Socket.send, Socket.close = send, close
    Socket.schedule_ping, Socket._websocket_handler = schedule_ping, websocket_handler


def engine_socket(socketio_server, sid: str, namespace: str):
    """The Engine.IO socket of a Socket.IO client of this process, or None when it is gone."""
    try:
        # python-socketio keeps the Engine.IO sid of each Socket.IO sid in its manager, and the engine
        # server its sockets by that sid; neither has a public accessor.
        return socketio_server.eio.sockets[socketio_server.manager.eio_sid_from_sid(sid, namespace)]
    except KeyError:
        return None


def guard_messages(socketio_server, namespace: str, on_unreadable: Callable[[str | None, Exception], None]) -> None:
    """Route a packet python-socketio cannot decode or dispatch to `on_unreadable(sid, error)`: unguarded, bad
    JSON, nesting too deep, an integer too long or an event that is not a named list leave only a traceback."""
    # python-socketio registers its packet handler in the engine server's private `handlers`; replacing it
    # through the public `on` keeps everything else as it is.
    dispatch = socketio_server.eio.handlers["message"]

    def dispatch_checked(eio_sid, data):
        try:
            dispatch(eio_sid, data)
        except (ValueError, LookupError, TypeError, RecursionError) as error:
            on_unreadable(socketio_server.manager.sid_from_eio_sid(eio_sid, namespace), error)

    socketio_server.eio.on("message", dispatch_checked)


def schedule_ping(self) -> None:
    if self.last_ping:  # as upstream: only once the previous ping was answered
        self.last_ping = None
        transport["ping_clock_of"](self.server).schedule(self)


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
    if not eventlet_internals.speaks_rfc6455(ws):
        return upstream["_websocket_handler"](self, ws)

    def websocket_wait():
        data = ws.wait()
        if data and len(data) > self.server.max_http_buffer_size:
            raise ValueError("packet is too large")
        return data

    eventlet_internals.green_socket(ws).settimeout(self.server.ping_interval + self.server.ping_timeout)
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
    eventlet_internals.release_http_buffers(ws)
    frames = transport["frame_writer"](ws, self.server.start_background_task, self.server.sleep)
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
            decoded = packet.Packet(encoded_packet=received)
        except ValueError as error:  # a client's garbage ends its connection; it is no fault of the server's
            log.warning("%s: undecodable Engine.IO packet (%s), closing connection", self.sid, error)
            break
        try:
            self.receive(decoded)
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
