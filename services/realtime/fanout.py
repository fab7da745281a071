"""The Socket.IO fan-out: one loop follows the hub and emits each channel's new messages to its room.

Bursts coalesce: messages that arrived since the last round go out as one push per channel. Resumes
are served inside the same loop, so a resuming client's replay and its joining the rooms happen
between two rounds of live pushes: it sees every missed message once, in order, then live ones.

Every emit here stays in this process (`emit` is bound with ignore_queue=True when a message queue is set).
In a cluster each process tails the cluster's stream and pushes every entry to its own clients; through
python-socketio's Redis manager, each push would also reach the other processes, which push it themselves,
so every client would get it once per process. A replay goes to a sid that sent `resume` here, so it is
held here too. The manager still carries emits aimed at a sid another process holds (none from this loop).
"""
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import NamedTuple

from services.realtime.hub import Cursor, Stream, merged_payload
from services.realtime.presence import ROOM_OF_CHANNEL, Presence

log = logging.getLogger(__name__)
# The pause after each round, during which new messages gather into the next one. It caps a flood at
# 200 rounds a second (a round to many clients takes longer than this anyway, and messages gather
# meanwhile), and is all the delay a lone event can meet: at 20 ms, one ingested transaction in 25
# landed behind a host-sample push and waited for it (bench/ingest_to_screen.py, idle p99 27 ms).
COALESCE_SECONDS = 0.005


class Backlog(NamedTuple):
    """What a client has not taken yet: pushes, and their bytes where the transport knows them."""
    packets: int
    bytes: int


NO_BACKLOG = Backlog(0, 0)
# A client this far behind is dropped so that it resumes: the count bounds the replay it will ask for, the bytes
# what one stalled client can hold in this process whatever the pushes carry (one push holds up to 200 items).
MAX_BACKLOG = Backlog(packets=1000, bytes=8 * 2**20)


@dataclass(frozen=True)
class Resume:
    sid: str
    since: Cursor
    join: tuple[str, ...]


class Fanout:
    def __init__(self, hub: Stream, presence: Presence, emit: Callable, enter_room: Callable[[str, str], None],
                 sleep: Callable[[float], None], coalesce_seconds: float = COALESCE_SECONDS,
                 backlog: Callable[[str], Backlog] = lambda sid: NO_BACKLOG,
                 evict: Callable[[str], None] = lambda sid: None, max_backlog: Backlog = MAX_BACKLOG,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub, self.presence, self.emit, self.enter_room, self.sleep = hub, presence, emit, enter_room, sleep
        self.coalesce_seconds = coalesce_seconds
        self.backlog, self.evict, self.max_backlog, self.clock = backlog, evict, max_backlog, clock
        self.epoch, self.cursor = hub.epoch, hub.latest_seq
        self.resumes: list[Resume] = []
        self.stopped = threading.Event()
        self.backlogs_checked = clock()

    def request_resume(self, sid: str, since: Cursor, join: tuple[str, ...]) -> None:
        self.resumes.append(Resume(sid, since, join))
        self.hub.wake()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.hub.wait(self.cursor, timeout=1.0, or_until=lambda: bool(self.resumes))
            self.guarded(self.round)
            # The pause comes before the backlog check, which visits every client: the writers of the
            # pushes just emitted go first.
            self.sleep(self.coalesce_seconds)
            if self.clock() - self.backlogs_checked >= 1.0:
                self.guarded(self.evict_slow_clients)

    @staticmethod
    def guarded(step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:  # the loop must outlive any one bad message or client
            log.exception("fan-out step %s failed", step.__name__)

    def evict_slow_clients(self) -> list[str]:
        """Disconnect clients whose unsent backlog overflowed; they reconnect and resume (or are told to resync)."""
        self.backlogs_checked = self.clock()
        slow = []
        for sid in self.presence.sids():
            behind = self.backlog(sid)
            if behind.packets > self.max_backlog.packets or behind.bytes > self.max_backlog.bytes:
                log.warning("client %s fell %d pushes (%d bytes) behind; disconnecting it so it resumes", sid, *behind)
                self.evict(sid)
                self.presence.disconnect(sid)
                slow.append(sid)
        return slow

    def round(self) -> None:
        if self.hub.epoch != self.epoch:
            self.follow_new_epoch()
        messages, _ = self.hub.since(self.cursor, self.epoch)
        groups = [list(group) for _, group in groupby(sorted(messages, key=lambda m: (m.channel, m.seq)),
                                                      key=lambda m: m.channel)]
        # Pushes leave in order of their last seq, so a client that keeps the highest seq it saw skips nothing.
        for group in sorted(groups, key=lambda group: group[-1].seq):
            self.emit(group[0].channel, merged_payload(group, self.hub.max_items), to=ROOM_OF_CHANNEL[group[0].channel])
        if messages:
            self.cursor = messages[-1].seq
        while self.resumes:
            self.serve_resume(self.resumes.pop(0))

    def follow_new_epoch(self) -> None:
        """The stream restarted under this process (it left or rejoined a cluster's stream): everybody here resyncs
        and carries on in the new numbering from where it began, the rooms they are in counting from there."""
        ended = Cursor(self.cursor, self.epoch)
        self.epoch, self.cursor = self.hub.epoch, self.hub.epoch_start
        self.emit("resync", self.hub.resync(ended, self.cursor), to=None)  # every client of this process
        for sid in self.presence.sids():
            for room in self.presence.rooms_of(sid):
                self.presence.join(sid, room, self.cursor)

    def serve_resume(self, resume: Resume) -> None:
        """Replay what the client's rooms missed up to the live cursor, then join it to the new rooms."""
        joined = self.presence.rooms_of(resume.sid)
        messages, missing = self.hub.since(resume.since.seq, resume.since.epoch)
        if missing:  # the client carries on from the live cursor, in this epoch's numbering
            self.emit("resync", self.hub.resync(resume.since, self.cursor), to=resume.sid)
        else:
            for message in messages:
                room = ROOM_OF_CHANNEL[message.channel]
                live_since = joined.get(room)  # already in the room: it got everything after joining live
                if message.seq <= self.cursor and (room in resume.join or (live_since is not None and message.seq <= live_since)):
                    self.emit(message.channel, message.payload(), to=resume.sid)
        for room in resume.join:
            self.enter_room(resume.sid, room)
            self.presence.join(resume.sid, room, self.cursor)
