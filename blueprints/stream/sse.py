"""GET /admin/api/stream: Server-Sent Events read straight from the hub's buffer, with no thread or
database connection held per stream (a greenlet waits on the hub's condition)."""
from flask import Response, current_app, request

from blueprints.http import ApiError, runtime
from blueprints.stream import bp
from services.monitoring.performance import SKIP_KEY
from services.realtime.hub import Cursor, parse_cursor
from services.realtime.presence import CHANNELS
from services.realtime.streams import sse_frames


def requested_channels() -> tuple[str, ...]:
    raw = request.args.get("channels") or ",".join(CHANNELS)
    channels = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    unknown = [name for name in channels if name not in CHANNELS]
    if unknown:
        raise ApiError(400, f"unknown channels {unknown}; choose from {', '.join(CHANNELS)}", {"parameter": "channels"})
    return channels


def resume_point() -> Cursor | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if raw in (None, ""):
        return None
    cursor = parse_cursor(raw)
    if cursor is None:
        raise ApiError(400, "Last-Event-ID must be an event id, <epoch>:<seq> (or a bare seq)",
                       {"parameter": "last_event_id"})
    return cursor


@bp.get("/stream")
def stream():
    channels, since = requested_channels(), resume_point()
    request.environ[SKIP_KEY] = True  # a stream's duration is not a request latency
    frames = sse_frames(runtime().hub, runtime().presence, channels, since,
                        current_app.config["SSE_HEARTBEAT_SECONDS"])
    return Response(frames, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
