"""The event hub: every pushed message gets a `seq` and `ts` and waits in a bounded replay buffer.

Publishers (ingest, the host sampler, notifications, the live_update broadcaster) call `publish`;
Socket.IO's fan-out loop and every SSE stream read the same buffer by cursor, so a message is built
and encoded once however many clients read it.

The stream has an `epoch`, a random id chosen when the hub starts: seqs count from 1 again in a new
process, so a cursor means something only together with the epoch that numbered it.

`Stream` is what publishers and readers rely on. It has two implementations: `EventHub` here, the whole
stream of one process (the default), and `services.cluster.stream.ClusterStream`, which numbers on Redis
for every process of a cluster and keeps an EventHub as this process's copy for its readers.
"""
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Protocol

log = logging.getLogger(__name__)

Subscriber = Callable[[str, list[dict]], None]
EPOCH = re.compile(r"[A-Za-z0-9_-]{1,64}")
SEQ = re.compile(r"[0-9]{1,19}")
MAX_SEQ = 2**63 - 1


def new_epoch() -> str:
    return secrets.token_urlsafe(9)


@dataclass(frozen=True)
class Cursor:
    """A reader's place in a stream: the last seq it saw, and the epoch that numbered it (None from a client
    that sends a bare seq, as clients did before epochs)."""
    seq: int
    epoch: str | None = None

    def __str__(self) -> str:
        return f"{self.epoch}:{self.seq}" if self.epoch else str(self.seq)


def parse_cursor(text: str) -> Cursor | None:
    """`<epoch>:<seq>` or a bare `<seq>` (an SSE Last-Event-ID); None when it is neither."""
    epoch, colon, seq = text.rpartition(":")
    if not SEQ.fullmatch(seq) or int(seq) > MAX_SEQ or (colon and not EPOCH.fullmatch(epoch)):
        return None
    return Cursor(int(seq), epoch or None)


@dataclass
class Message:
    epoch: str
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
            data = json.dumps(self.payload(), default=str)
            self._frame = f"id: {self.epoch}:{self.seq}\nevent: {self.channel}\ndata: {data}\n\n"
        return self._frame


def cut(items: list, total: int | None, max_items: int) -> tuple[list, bool]:
    """The newest `max_items` items, and whether some were dropped (of `total` when the publisher already cut)."""
    total = len(items) if total is None else total
    return list(items[-max_items:]), total > max_items


def merged_payload(messages: list[Message], max_items: int) -> dict:
    """Several messages of one channel as one push: items in order, capped, and the seq range they cover."""
    items = [item for message in messages for item in message.items]
    return {"seq": messages[-1].seq, "first_seq": messages[0].seq, "ts": messages[-1].ts,
            "items": items[-max_items:],
            "truncated": len(items) > max_items or any(message.truncated for message in messages)}


class Stream(Protocol):
    """The numbered stream as its publishers and readers (fan-out, SSE, resume, health) use it."""
    epoch: str
    epoch_start: int
    max_items: int

    @property
    def latest_seq(self) -> int: ...

    def publish(self, channel: str, items: list[dict], total: int | None = None,
                fence: tuple[str, int] | None = None) -> "Message | None": ...

    def since(self, seq: int, epoch: str | None = None) -> tuple[list["Message"], bool]: ...

    def resync(self, cursor: Cursor, resume_at: int) -> dict: ...

    def wake(self) -> None: ...

    def wait(self, seq: int, timeout: float, or_until: Callable[[], bool] = lambda: False) -> bool: ...

    def subscribe(self, subscriber: Subscriber) -> None: ...

    def state(self) -> dict: ...

    def background_tasks(self) -> list[Callable[[], None]]: ...


class EventHub:
    """A monotonic sequence, a replay buffer bounded in size and age, and a wake-up for readers."""

    def __init__(self, buffer_size: int = 10_000, max_age: float = 300.0, max_items: int = 200,
                 clock: Callable[[], float] = time.time, epoch: str | None = None) -> None:
        self.max_items, self.max_age, self.buffer_size, self._clock = max_items, max_age, buffer_size, clock
        self.epoch = epoch or new_epoch()
        self._buffer: deque[Message] = deque(maxlen=buffer_size)
        self._seq = 0
        self.epoch_start = 0  # the seq this epoch started from here: 0, or where a cluster's stream was joined
        self._changed = threading.Condition()
        self._subscribers: list[Subscriber] = []

    @property
    def latest_seq(self) -> int:
        return self._seq

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber(channel, items)` on every publish (in the publisher's thread)."""
        self._subscribers.append(subscriber)

    def publish(self, channel: str, items: list[dict], total: int | None = None,
                fence: tuple[str, int] | None = None) -> Message | None:
        """Number, buffer and announce one message; items beyond `max_items` (of `total` when the publisher
        already cut them) are dropped and the message is marked truncated.

        `fence` is ignored: one process has no other leader whose late writes would need refusing."""
        if not items:
            return None
        now = self._clock()
        kept, truncated = cut(items, total, self.max_items)
        with self._changed:
            message = Message(self.epoch, self._seq + 1, channel, datetime.fromtimestamp(now, UTC).isoformat(),
                              kept, truncated, now)
            self._store(message)
        self.announce(channel, items)
        return message

    def append(self, message: Message) -> None:
        """Buffer a message numbered elsewhere (the cluster's stream), in seq order.

        Another epoch restarts the buffer in it, and a gap restarts it at the gap, so the buffer stays
        contiguous and a cursor before the gap is told it missed something; a seq already held is skipped."""
        with self._changed:
            if message.epoch != self.epoch or message.seq > self._seq + 1:
                self._restart(message.epoch, message.seq - 1)
            if message.seq == self._seq + 1:
                self._store(message)

    def restart(self, epoch: str, seq: int) -> None:
        """Carry on as epoch `epoch` from `seq`, with an empty buffer: readers of the old epoch get a resync."""
        with self._changed:
            self._restart(epoch, seq)

    def _restart(self, epoch: str, seq: int) -> None:
        self.epoch, self._seq, self.epoch_start = epoch, seq, seq
        self._buffer.clear()
        self._changed.notify_all()

    def _store(self, message: Message) -> None:
        self._seq = message.seq
        self._buffer.append(message)
        self._drop_expired(message.created)
        self._changed.notify_all()

    def announce(self, channel: str, items: list[dict]) -> None:
        """Tell the subscribers about a publish (in the publisher's thread)."""
        for subscriber in list(self._subscribers):
            try:
                subscriber(channel, items)
            except Exception:  # one broken subscriber must not stop ingest or the others
                log.exception("hub subscriber failed on %s", channel)

    def state(self) -> dict:
        """Where the stream stands, for health."""
        return {"mode": "process", "epoch": self.epoch, "seq": self._seq, "degraded": None}

    def background_tasks(self) -> list[Callable[[], None]]:
        return []  # everything happens in the publisher's call

    def _drop_expired(self, now: float) -> None:
        while self._buffer and now - self._buffer[0].created > self.max_age:
            self._buffer.popleft()

    def since(self, seq: int, epoch: str | None = None) -> tuple[list[Message], bool]:
        """Messages after `seq`, oldest first, and whether some after `seq` are gone (the reader must resync).

        A cursor of another epoch is always gone; one without an epoch (an old client's) is trusted while
        it fits this stream's numbering."""
        with self._changed:
            if seq > self._seq or (epoch is not None and epoch != self.epoch):
                return [], True
            oldest = self._buffer[0].seq if self._buffer else self._seq + 1
            # Sequence numbers are contiguous in the buffer, so the cursor's position is arithmetic.
            return list(islice(self._buffer, max(0, seq - oldest + 1), None)), seq < oldest - 1

    def resync(self, cursor: Cursor, resume_at: int) -> dict:
        """The `resync` body for a reader whose cursor cannot be served: it carries on from `resume_at`."""
        if cursor.epoch is not None and cursor.epoch != self.epoch:
            reason = f"the stream restarted: epoch {cursor.epoch} ended and epoch {self.epoch} numbers anew"
        elif cursor.seq > self._seq:
            reason = f"seq {cursor.seq} is ahead of this stream: it restarted (epoch {self.epoch})"
        else:
            reason = f"messages after seq {cursor.seq} are no longer buffered"
        return {"reason": reason, "epoch": self.epoch, "seq": resume_at}

    def wake(self) -> None:
        """Wake the readers waiting in `wait`, e.g. to serve a request that is not a new message."""
        with self._changed:
            self._changed.notify_all()

    def wait(self, seq: int, timeout: float, or_until: Callable[[], bool] = lambda: False) -> bool:
        """Block until a message after `seq` exists, the epoch changes (a restart numbers from below `seq`), or
        `or_until()` holds after a wake; at most `timeout`."""
        with self._changed:
            epoch = self.epoch
            return self._changed.wait_for(lambda: self._seq > seq or self.epoch != epoch or or_until(), timeout)
