"""Real-time delivery: the SSE fallback at /admin/api/stream and the Socket.IO namespace /admin."""
from flask import Blueprint

from blueprints.permissions import guard_admin_api

bp = Blueprint("stream", __name__)
bp.before_request(guard_admin_api)

from blueprints.stream import sockets, sse  # noqa: E402,F401  (handlers attach themselves)
