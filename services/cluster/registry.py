"""The cluster's processes and its leader, as this process takes part in them (SPEC §8).

Every process runs two loops: the leader lease's (services/cluster/lease.py) and a heartbeat that writes its
entry (host, pid, started, last heartbeat, clients) to one Redis hash of the cluster, prunes entries that
stopped beating, shares its measurements (services/cluster/shared_measurements.py) and reads the others'.
The leader — the lease holder — runs what must run once in the cluster: the live_update broadcaster and the
alert evaluator. Without a message queue a process is a cluster of one and its own leader.

Redis unreachable: a leader keeps its role only until its lease deadline (the ttl from its last renewal),
since another process may take over once the key expires; a process that never reached Redis never leads.
Every process keeps serving its own clients, and sees no peers until Redis answers again.
"""
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError

from services.cluster import shared_measurements
from services.cluster.connection import REDIS_DOWN, connect, key
from services.cluster.lease import Lease, holder_name
from services.runtime.process import Runtime

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 2.0
# An entry this old belongs to a process that died (three beats missed); its measurements expire with it.
STALE_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS
LEASE_SECONDS = 5.0
LEADER_LEASE = "leader"
CLUSTER = "cluster"  # its key in app.extensions


def process_name(host: str, pid: int) -> str:
    return f"{host}:{pid}"


class SoloCluster:
    """A process without a message queue: the whole cluster, and its leader."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def is_leader(self) -> bool:
        return True

    def fence(self) -> tuple[str, int] | None:
        return None

    def start(self, spawn: Callable, sleep: Callable[[float], None]) -> None:
        pass

    def health(self) -> dict:
        me = process_name(self.runtime.host, self.runtime.pid)
        return {"status": "ok", "mode": "single process", "leader": me,
                "processes": [readable(entry(self.runtime, time.time()))]}


class Registry:
    """This process's membership of a cluster on Redis: its heartbeat, its view of the others, its lease."""

    def __init__(self, runtime: Runtime, redis: Redis, cluster: str, lease_seconds: float = LEASE_SECONDS) -> None:
        self.runtime, self.redis, self.cluster = runtime, redis, cluster
        self.name = process_name(runtime.host, runtime.pid)
        self.processes_key = key(cluster, "processes")
        self.lease = Lease(redis, cluster, LEADER_LEASE, self.name, ttl=lease_seconds)
        self.last_beat: float | None = None  # wall clock of the last heartbeat Redis took
        self.failure: str | None = None  # why the last heartbeat failed
        self.leader: str | None = None  # the lease holder and the live entries, as the last heartbeat read them
        self.processes: list[dict] = []

    def is_leader(self) -> bool:
        return self.lease.held()

    def fence(self) -> tuple[str, int] | None:
        """(fence key, token) that the leader's writes carry; None when this process is not the leader."""
        token = self.lease.fence
        return (self.lease.fence_key, token) if token is not None and self.lease.held() else None

    def start(self, spawn: Callable, sleep: Callable[[float], None]) -> None:
        spawn(forever, self.lease.refresh, self.lease.ttl / 3, sleep)
        spawn(forever, self.beat, HEARTBEAT_SECONDS, sleep)

    def beat(self) -> None:
        """Write this process's entry and measurements, prune the dead, and read the leader and the others'
        entries and measurements: what health and the readers of `runtime.peers` answer from until the next beat."""
        now = time.time()
        try:
            self.leader, self.processes, peers = self._exchange(now)
            self.runtime.peers.replace(peers)
            self.last_beat, self.failure = now, None
        # Refusals too (OOM, READONLY after a failover): health must say the view has stopped, not show it frozen.
        except (*REDIS_DOWN, RedisError) as error:
            self.runtime.peers.replace([])  # no stale figures of processes this one cannot hear from
            trouble = "unreachable" if isinstance(error, REDIS_DOWN) else "refused the heartbeat"
            self.failure = f"Redis {trouble}: {str(error)[:200]}"
            log.warning("cluster heartbeat failed: %s", error)

    def _exchange(self, now: float) -> tuple[str | None, list[dict], list[shared_measurements.Measurements]]:
        mine = self.measurements_key(self.name)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.processes_key, self.name, json.dumps(entry(self.runtime, now)))
        pipe.hset(mine, mapping=shared_measurements.encode(shared_measurements.own(self.runtime)))
        pipe.pexpire(mine, int(STALE_AFTER_SECONDS * 1000))
        pipe.get(self.lease.key)
        pipe.hgetall(self.processes_key)
        *_, token, fields = pipe.execute()
        entries = live_entries(self.redis, self.processes_key, fields, now)
        others = [item for item in entries if process_name(item["host"], item["pid"]) != self.name]
        pipe = self.redis.pipeline(transaction=False)
        for other in others:
            pipe.hgetall(self.measurements_key(process_name(other["host"], other["pid"])))
        peers = [shared_measurements.decode(other["host"], other["pid"], fields)
                 for other, fields in zip(others, pipe.execute(), strict=True) if fields]
        return holder_name(token.decode()) if token else None, entries, peers

    def measurements_key(self, name: str) -> str:
        return key(self.cluster, "measurements", name)

    def health(self) -> dict:
        """The `cluster` component of GET /admin/api/health, as of the last heartbeat (at most 2 s old): a health
        probe must answer at once while Redis is away, not wait out its timeouts."""
        if self.failure is not None or self.last_beat is None:
            return {"status": "degraded", "error": self.failure or "no heartbeat yet",
                    "leader": self.name if self.is_leader() else None,
                    "processes": [readable(entry(self.runtime, self.last_beat))]}
        return {"status": "ok" if self.leader else "degraded", "leader": self.leader,
                "processes": [readable(item) for item in sorted(self.processes, key=lambda item: item["started"])]}


def forever(step: Callable[[], object], interval: float, sleep: Callable[[float], None]) -> None:
    """Run `step` every `interval` for the life of the process; a failure is logged and the next round runs."""
    while True:
        try:
            step()
        except Exception:  # e.g. a malformed entry another version wrote: the loop must outlive it
            log.exception("cluster loop %s failed", getattr(step, "__qualname__", step))
        sleep(interval)


ENTRY_FIELDS = {"host", "pid", "started", "last_heartbeat", "clients"}


def entry(runtime: Runtime, beat_at: float | None) -> dict:
    return {"host": runtime.host, "pid": runtime.pid, "started": runtime.started_at, "last_heartbeat": beat_at,
            "clients": runtime.presence.counts()}


def readable(item: dict) -> dict:
    """An entry with its times as ISO 8601, like every other time the API answers with."""
    return item | {name: iso(item[name]) for name in ("started", "last_heartbeat")}


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def live_entries(redis: Redis, processes_key: str, fields: dict[bytes, bytes], now: float) -> list[dict]:
    """The entries that still beat; those that stopped, or cannot be read, are deleted on the way."""
    entries, stale = [], []
    for name, value in fields.items():
        item = readable_entry(value)
        (stale if item is None or now - item["last_heartbeat"] > STALE_AFTER_SECONDS else entries).append((name, item))
    if stale:
        redis.hdel(processes_key, *(name for name, _ in stale))
    return [item for _, item in entries]


def readable_entry(value: bytes) -> dict | None:
    """An entry as written by entry(); None for one this version cannot read, which would otherwise fail every
    heartbeat (and freeze the view of the cluster) for as long as it stays in the hash."""
    try:
        item = json.loads(value)
    except ValueError:
        item = None
    if not isinstance(item, dict) or not ENTRY_FIELDS <= item.keys() or not isinstance(item["last_heartbeat"], float | int):
        log.warning("cluster entry %r dropped: not one this version writes", value[:200])
        return None
    return item


def join(runtime: Runtime, settings: dict) -> Registry | SoloCluster:
    """The process's place in its cluster: on the message queue's Redis, or alone without one."""
    url = settings["SOCKETIO_MESSAGE_QUEUE"]
    return Registry(runtime, connect(url), settings["CLUSTER_NAME"]) if url else SoloCluster(runtime)
