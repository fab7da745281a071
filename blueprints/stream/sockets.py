"""The Socket.IO namespace /admin (SPEC §7): logged-in users only, named rooms, resume by epoch and seq.

Every client payload is checked before use: a wrong shape or type, an unknown room or event, or a packet
python-socketio cannot read is answered with an `error` event naming what is wrong, and the connection and
everybody else's carry on.
"""
import logging
import reprlib
from functools import wraps

from flask import request
from flask_login import current_user
from flask_socketio import emit, join_room, leave_room

from blueprints.http import runtime
from blueprints.stream import bp
from database import utcnow
from extensions import socketio
from services.realtime import engineio_internals, websocket_transport
from services.realtime.fanout import NO_BACKLOG, Backlog
from services.realtime.hub import EPOCH, MAX_SEQ, Cursor
from services.realtime.presence import ROOMS

log = logging.getLogger(__name__)
NAMESPACE = "/admin"
JOINABLE = tuple(room for room in ROOMS if room != "admin")
CLIENT_EVENTS: list[str] = []  # filled by @on


def unsent(sid: str) -> Backlog:
    """What the client has not taken yet."""
    engine_socket = engineio_internals.engine_socket(socketio.server, sid, NAMESPACE)
    return websocket_transport.unsent(engine_socket) if engine_socket is not None else NO_BACKLOG


def evict(sid: str) -> None:
    """Drop a client that cannot keep up, with its backlog; it reconnects and resumes from its last seq."""
    engine_socket = engineio_internals.engine_socket(socketio.server, sid, NAMESPACE)
    if engine_socket is not None:
        websocket_transport.drop(engine_socket)


def send_error(code: str, message: str) -> None:
    emit("error", {"code": code, "message": message})


def send_status() -> None:
    services = runtime()
    emit("status", {"user": current_user.username, "role": current_user.role,
                    "rooms": sorted(services.presence.rooms_of(request.sid)),
                    "server_time": utcnow().isoformat(), "seq": services.hub.latest_seq, "epoch": services.hub.epoch})


def on(event: str):
    """Register the handler of a client event, called with its one payload (None when it sent none).

    Socket.IO lets a client send any number of arguments; more than one is an error, not a TypeError.
    """
    def register(handler):
        @wraps(handler)
        def receive(*args):
            if len(args) > 1:
                send_error("bad_payload", f"{event} takes one payload, not {len(args)}")
                return
            handler(args[0] if args else None)

        CLIENT_EVENTS.append(event)
        socketio.on(event, namespace=NAMESPACE)(receive)
        return handler
    return register


def answer_unreadable(sid: str | None, error: Exception) -> None:
    """A packet python-socketio could not read: the client gets an `error` and the log one line."""
    problem = f"{type(error).__name__}: {str(error)[:100]}"
    log.warning("unreadable Socket.IO packet from %s (%s)", sid, problem)
    if sid is not None:
        socketio.emit("error", {"code": "bad_packet", "message": f"not a Socket.IO packet this server reads ({problem})"},
                      to=sid, namespace=NAMESPACE)


@bp.record_once
def guard_packets(_state) -> None:
    engineio_internals.guard_messages(socketio.server, NAMESPACE, answer_unreadable)


@socketio.on("connect", namespace=NAMESPACE)
def connect(_auth=None):
    if not current_user.is_authenticated:
        return False  # the client sees the connection refused
    runtime().presence.connect(request.sid)
    send_status()
    return True


@socketio.on("disconnect", namespace=NAMESPACE)
def disconnect(_reason=None):
    runtime().presence.disconnect(request.sid)


@socketio.on("*", namespace=NAMESPACE)
def unknown_event(event, *_args):
    send_error("unknown_event", f"no event {reprlib.repr(event)}; send one of {', '.join(CLIENT_EVENTS)}")


def enter(room: str) -> None:
    join_room(room)
    runtime().presence.join(request.sid, room, runtime().hub.latest_seq)
    send_status()


def room_from(event: str, payload) -> str | None:
    """The room a join_room or leave_room names, or None after telling the client what is wrong."""
    room = payload.get("room") if isinstance(payload, dict) else None
    if not isinstance(room, str):
        send_error("bad_payload", f'{event} needs {{"room": "<name>"}}, not {reprlib.repr(payload)}')
        return None
    if room not in JOINABLE:
        send_error("unknown_room", f"no room {reprlib.repr(room)}; choose from {', '.join(JOINABLE)}")
        return None
    return room


@on("join_admin_room")
def join_admin_room(_payload):
    enter("admin")


@on("leave_admin_room")
def leave_admin_room(_payload):
    leave_room("admin")
    runtime().presence.leave(request.sid, "admin")
    send_status()


@on("join_room")
def on_join_room(payload):
    room = room_from("join_room", payload)
    if room:
        enter(room)


@on("leave_room")
def on_leave_room(payload):
    room = room_from("leave_room", payload)
    if room:
        leave_room(room)
        runtime().presence.leave(request.sid, room)
        send_status()


@on("request_live_update")
def request_live_update(_payload):
    """The newest live_update, to this client alone (a fresh one when none was broadcast yet)."""
    messages, _ = runtime().hub.since(max(0, runtime().hub.latest_seq - 200))
    latest = next((m for m in reversed(messages) if m.channel == "live_update"), None)
    if latest is None:
        send_error("no_live_update", "no live_update yet; join the admin room to receive them")
        return
    emit("live_update", latest.payload())


@on("resume")
def resume(payload):
    """Replay missed messages of the client's rooms (and of `rooms`, which it joins), then go live; a cursor
    of another epoch, or one the buffer no longer covers, gets a `resync` instead of the replay."""
    wanted = resume_request(payload)
    if wanted is not None:
        runtime().fanout.request_resume(request.sid, *wanted)


def resume_request(payload) -> tuple[Cursor, tuple[str, ...]] | None:
    """The cursor and rooms of a resume payload, or None after telling the client what is wrong."""
    if not isinstance(payload, dict):
        send_error("bad_payload", 'resume needs {"since": <last seq seen>, "epoch": "<its epoch>", "rooms": [...]}')
        return None
    since, epoch, rooms = payload.get("since"), payload.get("epoch"), payload.get("rooms")
    rooms = [] if rooms is None else rooms
    if not isinstance(since, int) or isinstance(since, bool) or not 0 <= since <= MAX_SEQ:
        send_error("bad_payload", f"since must be the last seq seen, an integer from 0 to {MAX_SEQ}")
    elif epoch is not None and not (isinstance(epoch, str) and EPOCH.fullmatch(epoch)):
        send_error("bad_payload", "epoch must be the epoch that status or resync gave, or absent")
    elif not isinstance(rooms, list) or not all(isinstance(room, str) for room in rooms):
        send_error("bad_payload", "rooms must be a list of room names")
    elif unknown := [room for room in rooms if room not in ROOMS]:
        send_error("unknown_room", f"no room {reprlib.repr(unknown[0])}; choose from {', '.join(ROOMS)}")
    else:
        return Cursor(since, epoch), tuple(dict.fromkeys(rooms))
    return None


@on("ping")
def ping(_payload):
    hub = runtime().hub
    emit("pong", {"server_time": utcnow().isoformat(), "seq": hub.latest_seq, "epoch": hub.epoch})
