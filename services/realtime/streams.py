"""SSE frames for one client: a cursor over the hub's buffer, filtered by channel, with heartbeats."""
import json
import time
from collections.abc import Iterator

from services.realtime.hub import EventHub
from services.realtime.presence import Presence

RETRY_MS = 3000


def sse_frames(hub: EventHub, presence: Presence, channels: tuple[str, ...], since: int | None,
               heartbeat: float) -> Iterator[str]:
    """Replay after `since` (or start live), then follow; ends when the client goes (the server closes us)."""
    wanted = set(channels)
    cursor = hub.latest_seq if since is None else since
    presence.open_stream(channels)
    try:
        yield f"retry: {RETRY_MS}\n: connected at seq {hub.latest_seq}\n\n"
        last_sent = time.monotonic()
        while True:
            messages, missing = hub.since(cursor)
            if missing:
                yield resync_frame(cursor, hub.latest_seq)
                cursor, last_sent = hub.latest_seq, time.monotonic()
                continue
            if messages:
                cursor = messages[-1].seq
                chunk = "".join(message.sse_frame() for message in messages if message.channel in wanted)
                if chunk:
                    yield chunk
                    last_sent = time.monotonic()
            # Other channels' traffic wakes us too, so the heartbeat is due on silence towards this client.
            silence = time.monotonic() - last_sent
            if silence >= heartbeat or not hub.wait(cursor, heartbeat - silence):
                yield ": heartbeat\n\n"
                last_sent = time.monotonic()
    finally:
        presence.close_stream(channels)


def resync_frame(cursor: int, latest: int) -> str:
    data = json.dumps({"reason": f"messages after seq {cursor} are no longer buffered", "seq": latest})
    return f"event: resync\ndata: {data}\n\n"
