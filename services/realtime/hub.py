"""The event hub: every pushed message gets a `seq` and `ts` and waits in a bounded replay buffer.

Publishers (ingest, the host sampler, notifications, the live_update broadcaster) call `publish`;
Socket.IO's fan-out loop and every SSE stream read the same buffer by cursor, so a message is built
and encoded once however many clients read it.
"""
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

log = logging.getLogger(__name__)

Subscriber = Callable[[str, list[dict]], None]


@dataclass
class Message:
    seq: int
    channel: str
    ts: str
    items: list
    truncated: bool
    created: float
    _frame: str | None = field(default=None, repr=False)

    def payload(self) -> dict:
        return {"seq": self.seq, "first_seq": self.seq, "ts": self.ts, "items": self.items, "truncated": self.truncated}

    def sse_frame(self) -> str:
        """The Server-Sent Events frame, encoded on first use and shared by every stream."""
        if self._frame is None:
            self._frame = f"id: {self.seq}\nevent: {self.channel}\ndata: {json.dumps(self.payload(), default=str)}\n\n"
        return self._frame


def merged_payload(messages: list[Message], max_items: int) -> dict:
    """Several messages of one channel as one push: items in order, capped, and the seq range they cover."""
    items = [item for message in messages for item in message.items]
    return {"seq": messages[-1].seq, "first_seq": messages[0].seq, "ts": messages[-1].ts,
            "items": items[-max_items:],
            "truncated": len(items) > max_items or any(message.truncated for message in messages)}


class EventHub:
    """A monotonic sequence, a replay buffer bounded in size and age, and a wake-up for readers."""

    def __init__(self, buffer_size: int = 10_000, max_age: float = 300.0, max_items: int = 200,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_items, self.max_age, self._clock = max_items, max_age, clock
        self._buffer: deque[Message] = deque(maxlen=buffer_size)
        self._seq = 0
        self._changed = threading.Condition()
        self._subscribers: list[Subscriber] = []

    @property
    def latest_seq(self) -> int:
        return self._seq

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber(channel, items)` on every publish (in the publisher's thread)."""
        self._subscribers.append(subscriber)

    def publish(self, channel: str, items: list[dict], total: int | None = None) -> Message | None:
        """Number, buffer and announce one message; items beyond `max_items` (of `total` when the publisher
        already cut them) are dropped and the message is marked truncated."""
        if not items:
            return None
        total = len(items) if total is None else total
        now = self._clock()
        with self._changed:
            self._seq += 1
            message = Message(self._seq, channel, datetime.fromtimestamp(now, UTC).isoformat(),
                              list(items[-self.max_items:]), total > self.max_items, now)
            self._buffer.append(message)
            self._drop_expired(now)
            self._changed.notify_all()
        for subscriber in list(self._subscribers):
            try:
                subscriber(channel, items)
            except Exception:  # one broken subscriber must not stop ingest or the others
                log.exception("hub subscriber failed on %s", channel)
        return message

    def _drop_expired(self, now: float) -> None:
        while self._buffer and now - self._buffer[0].created > self.max_age:
            self._buffer.popleft()

    def since(self, seq: int) -> tuple[list[Message], bool]:
        """Messages after `seq`, oldest first, and whether some after `seq` are gone (the reader must resync)."""
        with self._changed:
            if seq > self._seq:
                return [], True  # a cursor from before a restart of this stream
            oldest = self._buffer[0].seq if self._buffer else self._seq + 1
            # Sequence numbers are contiguous in the buffer, so the cursor's position is arithmetic.
            return list(islice(self._buffer, max(0, seq - oldest + 1), None)), seq < oldest - 1

    def wake(self) -> None:
        """Wake the readers waiting in `wait`, e.g. to serve a request that is not a new message."""
        with self._changed:
            self._changed.notify_all()

    def wait(self, seq: int, timeout: float, or_until: Callable[[], bool] = lambda: False) -> bool:
        """Block until a message after `seq` exists (or `or_until()` holds after a wake), at most `timeout`."""
        with self._changed:
            return self._changed.wait_for(lambda: self._seq > seq or or_until(), timeout)
