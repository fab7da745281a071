"""The Socket.IO namespace /admin (SPEC §7): logged-in users only, named rooms, resume by seq."""
from flask import request
from flask_login import current_user
from flask_socketio import emit, join_room, leave_room

from blueprints.http import runtime
from database import utcnow
from extensions import socketio
from services.realtime import engineio_internals, websocket_transport
from services.realtime.presence import ROOMS

NAMESPACE = "/admin"
JOINABLE = tuple(room for room in ROOMS if room != "admin")


def unsent_packets(sid: str) -> int:
    """How many packets the client has not taken yet."""
    engine_socket = engineio_internals.engine_socket(socketio.server, sid, NAMESPACE)
    return websocket_transport.unsent_packets(engine_socket) if engine_socket is not None else 0


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
                    "server_time": utcnow().isoformat(), "seq": services.hub.latest_seq})


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


def enter(room: str) -> None:
    join_room(room)
    runtime().presence.join(request.sid, room, runtime().hub.latest_seq)
    send_status()


def room_from(payload) -> str | None:
    room = payload.get("room") if isinstance(payload, dict) else None
    if room not in JOINABLE:
        send_error("unknown_room", f"room must be one of {', '.join(JOINABLE)}")
        return None
    return room


@socketio.on("join_admin_room", namespace=NAMESPACE)
def join_admin_room(_payload=None):
    enter("admin")


@socketio.on("leave_admin_room", namespace=NAMESPACE)
def leave_admin_room(_payload=None):
    leave_room("admin")
    runtime().presence.leave(request.sid, "admin")
    send_status()


@socketio.on("join_room", namespace=NAMESPACE)
def on_join_room(payload=None):
    room = room_from(payload)
    if room:
        enter(room)


@socketio.on("leave_room", namespace=NAMESPACE)
def on_leave_room(payload=None):
    room = room_from(payload)
    if room:
        leave_room(room)
        runtime().presence.leave(request.sid, room)
        send_status()


@socketio.on("request_live_update", namespace=NAMESPACE)
def request_live_update(_payload=None):
    """The newest live_update, to this client alone (a fresh one when none was broadcast yet)."""
    messages, _ = runtime().hub.since(max(0, runtime().hub.latest_seq - 200))
    latest = next((m for m in reversed(messages) if m.channel == "live_update"), None)
    if latest is None:
        send_error("no_live_update", "no live_update yet; join the admin room to receive them")
        return
    emit("live_update", latest.payload())


@socketio.on("resume", namespace=NAMESPACE)
def resume(payload=None):
    """Replay missed messages of the client's rooms (and of `rooms`, which it joins), then go live."""
    since = payload.get("since") if isinstance(payload, dict) else None
    rooms = payload.get("rooms", []) if isinstance(payload, dict) else []
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        send_error("bad_payload", "resume needs {\"since\": <last seq seen>, \"rooms\": [...]}")
        return
    if not isinstance(rooms, list) or any(room not in ROOMS for room in rooms):
        send_error("unknown_room", f"rooms must be among {', '.join(ROOMS)}")
        return
    runtime().fanout.request_resume(request.sid, since, tuple(dict.fromkeys(rooms)))


@socketio.on("ping", namespace=NAMESPACE)
def ping(_payload=None):
    emit("pong", {"server_time": utcnow().isoformat(), "seq": runtime().hub.latest_seq})
