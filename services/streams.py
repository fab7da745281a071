"""SSE frames for one client: a cursor over the hub's buffer, filtered by channel, with heartbeats."""
from collections.abc import Iterator

from services.hub import EventHub
from services.presence import Presence

RETRY_MS = 3000


def sse_frames(hub: EventHub, presence: Presence, channels: tuple[str, ...], since: int | None,
               heartbeat: float) -> Iterator[str]:
    """Replay after `since` (or start live), then follow; ends when the client goes (the server closes us)."""
    wanted = set(channels)
    cursor = hub.latest_seq if since is None else since
    presence.open_stream(channels)
    try:
        yield f"retry: {RETRY_MS}\n: connected at seq {hub.latest_seq}\n\n"
        while True:
            messages, missing = hub.since(cursor)
            if missing:
                yield f"event: resync\ndata: {{\"reason\": \"messages after seq {cursor} are no longer buffered\", \"seq\": {hub.latest_seq}}}\n\n"
                cursor = hub.latest_seq
                continue
            if messages:
                cursor = messages[-1].seq
                chunk = "".join(message.sse_frame() for message in messages if message.channel in wanted)
                if chunk:
                    yield chunk
                continue
            if not hub.wait(cursor, heartbeat):
                yield ": heartbeat\n\n"
    finally:
        presence.close_stream(channels)
