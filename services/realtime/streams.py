"""SSE frames for one client: a cursor over the hub's buffer, filtered by channel, with heartbeats."""
import json
import time
from collections.abc import Iterator

from services.realtime.hub import Cursor, Stream
from services.realtime.presence import Presence

RETRY_MS = 3000


def sse_frames(hub: Stream, presence: Presence, channels: tuple[str, ...], since: Cursor | None,
               heartbeat: float) -> Iterator[str]:
    """Replay after `since` (or start live), then follow; ends when the client goes (the server closes us).

    Every frame that moves the client's place carries `id: <epoch>:<seq>`, so a browser's own reconnect
    resumes exactly, even across a restart of the stream; a live start says where it starts in the first
    frame (an id alone fires no event).
    """
    wanted = set(channels)
    cursor = Cursor(hub.latest_seq, hub.epoch) if since is None else since
    presence.open_stream(channels)
    try:
        yield f"retry: {RETRY_MS}\n" + (f"id: {cursor}\n\n" if since is None else "\n")
        last_sent = time.monotonic()
        while True:
            messages, missing = hub.since(cursor.seq, cursor.epoch)
            if missing:
                latest = hub.latest_seq
                yield resync_frame(hub.resync(cursor, latest))
                cursor, last_sent = Cursor(latest, hub.epoch), time.monotonic()
                continue
            if messages:
                cursor = Cursor(messages[-1].seq, hub.epoch)
                chunk = "".join(message.sse_frame() for message in messages if message.channel in wanted)
                if chunk:
                    yield chunk
                    last_sent = time.monotonic()
            # Other channels' traffic wakes us too, so the heartbeat is due on silence towards this client.
            silence = time.monotonic() - last_sent
            if silence >= heartbeat or not hub.wait(cursor.seq, heartbeat - silence):
                yield ": heartbeat\n\n"
                last_sent = time.monotonic()
    finally:
        presence.close_stream(channels)


def resync_frame(body: dict) -> str:
    return f"id: {body['epoch']}:{body['seq']}\nevent: resync\ndata: {json.dumps(body)}\n\n"
