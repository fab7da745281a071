"""The cluster's stream on Redis: one Redis Stream per cluster numbers every push of every process (SPEC §7, §8).

A Lua script numbers and appends each push atomically, so entry order is seq order; an epoch stored beside the
stream names its numbering, and a new one starts when that key is gone (Redis lost its data: it keeps nothing on
disk here). Every process tails the stream into its own EventHub, which its readers (fan-out, SSE, resume) read
exactly as in one process; a cursor older than that copy (the process just started) is replayed from Redis.

While Redis is unreachable, the process numbers its own pushes under an epoch of its own, so its clients keep
getting them; one loop per process (the tail) rejoins the cluster's stream when Redis answers again, and the
epoch change tells every reader here to resync.
"""
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from services.cluster.connection import BACKOFF, REDIS_DOWN, connect, key
from services.realtime.hub import Cursor, EventHub, Message, Stream, cut, new_epoch

log = logging.getLogger(__name__)

# KEYS: stream, state. The epoch of the stream's numbering, created (seq 0, no entries) when it is missing.
CURRENT_EPOCH = """
local function current_epoch(stream, state, fresh)
  local epoch = redis.call('HGET', state, 'epoch')
  if epoch then return epoch end
  redis.call('DEL', stream)
  redis.call('HSET', state, 'epoch', fresh, 'seq', 0)
  return fresh
end
"""
# KEYS: stream, state[, fence]; ARGV: fresh epoch, channel, items (JSON), truncated, maxlen, max age ms[, token].
# Returns {epoch, seq, ts ms}, or nil when the fence holds another token (a leader that lost its lease).
PUBLISH = CURRENT_EPOCH + """
if #KEYS == 3 and redis.call('GET', KEYS[3]) ~= ARGV[7] then return false end
local epoch = current_epoch(KEYS[1], KEYS[2], ARGV[1])
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local time = redis.call('TIME')
local now = time[1] * 1000 + math.floor(time[2] / 1000)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'seq', seq, 'epoch', epoch, 'channel', ARGV[2],
           'ts', now, 'items', ARGV[3], 'truncated', ARGV[4])
redis.call('XTRIM', KEYS[1], 'MINID', '~', now - tonumber(ARGV[6]))
return {epoch, seq, now}
"""
# KEYS: stream, state; ARGV: fresh epoch. Returns {epoch, seq, id of the last entry} to tail from.
JOIN = CURRENT_EPOCH + """
local epoch = current_epoch(KEYS[1], KEYS[2], ARGV[1])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {epoch, redis.call('HGET', KEYS[2], 'seq'), last[1] and last[1][1] or '0-0'}
"""
CLUSTER, LOCAL = "cluster", "local"
TAIL_BLOCK_MS = 500
# Entries the tail may not have brought here yet when a replay reads Redis's newest ones.
REPLAY_SLACK = 1000


def build_stream(settings) -> Stream:
    """The stream of this process: its own hub, or the cluster's stream when a message queue is set."""
    hub = EventHub(settings["REPLAY_BUFFER_SIZE"], settings["REPLAY_BUFFER_SECONDS"])
    url = settings["SOCKETIO_MESSAGE_QUEUE"]
    if not url:
        return hub
    # The tail blocks in XREAD, so its connection waits longer than a block; other calls fail fast.
    return ClusterStream(publishing_client(url), connect(url, timeout=TAIL_BLOCK_MS / 1000 + 1), settings["CLUSTER_NAME"],
                         hub)


def publishing_client(url: str) -> Redis:
    """A client that resends a call only when it could not connect: a publish that timed out may still land when
    a silent network heals, and a resent one would land again, as a second entry of the same push."""
    client = connect(url)
    client.set_retry(Retry(BACKOFF, retries=2, supported_errors=(RedisConnectionError,)))
    return client


def entry_message(fields: dict[bytes, bytes]) -> Message:
    created = int(fields[b"ts"]) / 1000
    return Message(fields[b"epoch"].decode(), int(fields[b"seq"]), fields[b"channel"].decode(),
                   datetime.fromtimestamp(created, UTC).isoformat(), json.loads(fields[b"items"]),
                   fields[b"truncated"] == b"1", created)


class ClusterStream:
    """The Stream of a cluster's process: publishes go to Redis, readers read `local`, which the tail fills."""

    def __init__(self, redis: Redis, tail_redis: Redis, cluster: str, local: EventHub) -> None:
        self.redis, self.tail_redis, self.local = redis, tail_redis, local
        self.stream_key, self.state_key = key(cluster, "stream"), key(cluster, "stream", "state")
        self._publish = redis.register_script(PUBLISH)
        self._join = redis.register_script(JOIN)
        self.mode, self.degraded = LOCAL, "not joined yet"
        self.last_id = b"0-0"
        self._switching = threading.Lock()
        self.stopped = threading.Event()

    # Readers see this process's copy.
    @property
    def epoch(self) -> str:
        return self.local.epoch

    @property
    def epoch_start(self) -> int:
        return self.local.epoch_start

    @property
    def max_items(self) -> int:
        return self.local.max_items

    @property
    def latest_seq(self) -> int:
        return self.local.latest_seq

    def resync(self, cursor: Cursor, resume_at: int) -> dict:
        return self.local.resync(cursor, resume_at)

    def wake(self) -> None:
        self.local.wake()

    def wait(self, seq: int, timeout: float, or_until: Callable[[], bool] = lambda: False) -> bool:
        return self.local.wait(seq, timeout, or_until)

    def subscribe(self, subscriber) -> None:
        self.local.subscribe(subscriber)

    def state(self) -> dict:
        return {"mode": self.mode, "epoch": self.epoch, "seq": self.latest_seq, "degraded": self.degraded}

    def background_tasks(self) -> list[Callable[[], None]]:
        return [self.follow]

    def publish(self, channel: str, items: list[dict], total: int | None = None,
                fence: tuple[str, int] | None = None) -> Message | None:
        """Append to the cluster's stream (None when `fence` refuses it); this process's readers get it from the
        tail, in the cluster's order. Without Redis, number it here: callers (ingest, after its commit) never fail."""
        if not items:
            return None
        if self.mode == CLUSTER:
            try:
                return self.publish_to_cluster(channel, items, total, fence)
            # Refusals too (OOM under maxmemory, READONLY after a failover): ingest has committed, and a 500 now
            # would have its sender send the batch again.
            except (*REDIS_DOWN, RedisError) as error:
                self.fall_back(error)
        # A fence cannot be checked without Redis; each process then serves only its own clients anyway.
        return self.local.publish(channel, items, total)

    def publish_to_cluster(self, channel: str, items: list[dict], total: int | None,
                           fence: tuple[str, int] | None) -> Message | None:
        kept, truncated = cut(items, total, self.max_items)
        keys = [self.stream_key, self.state_key] + ([fence[0]] if fence else [])
        args = [new_epoch(), channel, json.dumps(kept, default=str), int(truncated), self.local.buffer_size,
                int(self.local.max_age * 1000)] + ([fence[1]] if fence else [])
        numbered = self._publish(keys=keys, args=args)
        if numbered is None:
            return None
        epoch, seq, now = numbered
        self.local.announce(channel, items)
        return Message(epoch.decode(), seq, channel, datetime.fromtimestamp(now / 1000, UTC).isoformat(), kept,
                       truncated, now / 1000)

    def since(self, seq: int, epoch: str | None = None) -> tuple[list[Message], bool]:
        """As EventHub.since; a cursor of the cluster's epoch older than this process's copy is read from Redis."""
        messages, missing = self.local.since(seq, epoch)
        if missing and self.mode == CLUSTER and epoch == self.local.epoch and seq < self.local.latest_seq:
            return self.replay(seq, epoch)
        return messages, missing

    def replay(self, seq: int, epoch: str) -> tuple[list[Message], bool]:
        """Entries after `seq` up to this process's latest, from Redis; missing when Redis no longer has them all."""
        upto = self.local.latest_seq
        if upto - seq > self.local.buffer_size:  # beyond what the stream keeps: no need to read it to know
            return [], True
        try:
            entries = self.redis.xrevrange(self.stream_key, count=upto - seq + REPLAY_SLACK)
        except REDIS_DOWN:
            return [], True
        messages = [message for message in map(entry_message, (fields for _, fields in reversed(entries)))
                    if message.epoch == epoch and seq < message.seq <= upto]
        complete = len(messages) == upto - seq and messages[0].seq == seq + 1
        return (messages, False) if complete else ([], True)

    def follow(self) -> None:
        """The tail: join the cluster's stream, copy its new entries here, and rejoin after Redis trouble."""
        failures = 0
        while not self.stopped.is_set():
            try:
                if self.mode != CLUSTER:
                    self.join()
                self.read_new()
                failures = 0
            except REDIS_DOWN as error:
                self.fall_back(error)
                failures += 1
                self.stopped.wait(BACKOFF.compute(failures))
            except Exception:  # the tail must outlive any one bad entry; the next round reads on
                log.exception("cluster stream tail failed")
                self.stopped.wait(1.0)

    def stop(self) -> None:
        self.stopped.set()

    def join(self) -> None:
        """Take the cluster's numbering from its current end: readers of the process's own epoch resync."""
        epoch, seq, last_id = self._join(keys=[self.stream_key, self.state_key], args=[new_epoch()])
        with self._switching:
            self.local.restart(epoch.decode(), int(seq))
            self.last_id, self.mode, self.degraded = last_id, CLUSTER, None
        log.info("joined the cluster stream: epoch %s from seq %s", epoch.decode(), int(seq))

    def read_new(self) -> None:
        answer = self.tail_redis.xread({self.stream_key: self.last_id}, count=1000, block=TAIL_BLOCK_MS)
        for _, entries in answer:
            for entry_id, fields in entries:
                if self.mode != CLUSTER:  # a publish fell back meanwhile: the next round rejoins
                    return
                self.last_id = entry_id  # first: an entry that cannot be read is skipped, not read forever
                self.local.append(entry_message(fields))

    def fall_back(self, error: Exception) -> None:
        """Redis is unreachable or refused a push: number this process's pushes under an epoch of its own until the
        tail rejoins."""
        with self._switching:
            trouble = "unreachable" if isinstance(error, REDIS_DOWN) else "refused a push"
            self.degraded = f"Redis {trouble} ({type(error).__name__}: {str(error)[:120]})"
            if self.mode == LOCAL:
                return
            self.mode = LOCAL
            self.local.restart(new_epoch(), 0)
        log.warning("cluster stream: %s; numbering this process's pushes locally until it answers", self.degraded)
