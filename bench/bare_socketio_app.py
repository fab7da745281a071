"""The bare stack that bench.fanout compares Pulseboard with: Flask-SocketIO under eventlet, one
namespace, a `join` event that enters a room, and `POST /emit` that emits one message to that room.

    python -m bench.bare_socketio_app PORT

Its pushes have the shape and size of Pulseboard's `notification` pushes, so the two encode and send
the same bytes; only the path from the HTTP request to the emit differs.
"""
import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from flask import Flask, jsonify, request  # noqa: E402
from flask_socketio import SocketIO, emit, join_room  # noqa: E402

NAMESPACE = "/bench"
app = Flask(__name__)
socketio = SocketIO(app, async_mode="eventlet")
sequence = [0]


@socketio.on("join", namespace=NAMESPACE)
def on_join(payload):
    join_room(payload["room"])
    emit("joined", {"room": payload["room"]})


@app.post("/emit")
def emit_to_room():
    body = request.get_json()
    sequence[0] += 1
    now = datetime.now(UTC).isoformat()
    item = {"id": sequence[0], "title": body["title"], "message": body.get("message", ""), "level": "info",
            "created_by": "admin", "created_at": now}
    socketio.emit(body.get("event", "tick"), {"seq": sequence[0], "first_seq": sequence[0], "ts": now,
                                              "items": [item], "truncated": False},
                  to=body["room"], namespace=NAMESPACE)
    return jsonify(seq=sequence[0], sent_at=time.time())


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), max_size=20000, log_output=False)
