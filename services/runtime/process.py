"""The long-lived services of one server process, built from settings; views and background jobs share them."""
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.cache.cache_manager import DEFAULT_NAMESPACES, CacheManager
from services.cache.circuit_breaker import CircuitBreaker
from services.cluster.shared_measurements import Peers
from services.cluster.stream import build_stream
from services.ingest.group_commit import GroupCommit
from services.ingest.writer import as_event
from services.ingest.writer_process import WriterProcess, build_ingest_writer
from services.monitoring.performance import RequestMonitor
from services.realtime.hub import Stream
from services.realtime.presence import Presence

if TYPE_CHECKING:
    from services.realtime.fanout import Fanout

# Hub channel of each ingested kind; the real-time layer turns channels into Socket.IO events and SSE.
INGEST_CHANNELS = {"transactions": "transaction", "activities": "activity", "metrics": "metric"}
# A pool that has no connection to give within its timeout is as unavailable as a database that refuses one.
DATABASE_FAILURES = (OperationalError, InterfaceError, PoolTimeout, TimeoutError)


@dataclass
class Runtime:
    hub: Stream  # the process's own (EventHub) or, with a message queue, the cluster's (ClusterStream)
    cache: CacheManager
    breaker: CircuitBreaker
    monitor: RequestMonitor
    ingest_writer: GroupCommit | WriterProcess  # stores what the ingest API validated (INGEST_WRITER)
    host: str
    pid: int
    presence: Presence = field(default_factory=Presence)
    peers: Peers = field(default_factory=Peers)  # the cluster's other processes; none without a message queue
    fanout: "Fanout | None" = None  # set once Socket.IO is attached (app_factory.register_realtime)
    started_at: float = field(default_factory=time.time)
    latest_sample: dict | None = None
    ingested: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    job_runs: dict = field(default_factory=dict)
    request_totals: dict = field(default_factory=dict)  # (endpoint, method) -> drained minutes, for /metrics

    def absorb_request_minutes(self, rows: list[dict]) -> None:
        """Fold drained per-minute request rows into this process's lifetime totals (Prometheus counters)."""
        fold_request_rows(self.request_totals, rows)

    def request_lifetime(self) -> list[dict]:
        """Lifetime request totals per endpoint, including the minute in progress."""
        merged = {key: {**value, "histogram": dict(value["histogram"])} for key, value in self.request_totals.items()}
        fold_request_rows(merged, self.monitor.own_unflushed())
        return list(merged.values())

    def announce_ingested(self, stored: dict[str, list[dict]], errors: list[dict] = ()) -> None:
        """After a commit: drop the cache answers the batch made stale, count it, and publish it."""
        kinds = [kind for kind, rows in stored.items() if rows]
        if kinds:
            self.cache.invalidate_for_ingest(kinds)
        for kind, rows in stored.items():
            self.ingested[kind] += len(rows)
            # A push carries at most the hub's newest max_items items, so build no more than that.
            newest = [as_event(kind, row) for row in rows[-self.hub.max_items:]]
            self.hub.publish(INGEST_CHANNELS[kind], newest, total=len(rows))
        for error in errors:
            self.rejected[error["kind"]] += 1


def fold_request_rows(totals: dict, rows: list[dict]) -> None:
    for row in rows:
        total = totals.setdefault((row["endpoint"], row["method"]), {
            "endpoint": row["endpoint"], "method": row["method"], "count": 0, "total_ms": 0.0, "histogram": {}})
        total["count"] += row["count"]
        total["total_ms"] += row["total_ms"]
        for index, count in row["histogram"].items():
            total["histogram"][index] = total["histogram"].get(index, 0) + count


def build_runtime(settings: dict) -> Runtime:
    host, pid = socket.gethostname(), os.getpid()
    peers = Peers()
    return Runtime(hub=build_stream(settings),
                   cache=CacheManager(DEFAULT_NAMESPACES),
                   breaker=CircuitBreaker(failure_threshold=settings["BREAKER_FAILURES"],
                                          reset_timeout=settings["BREAKER_RESET_SECONDS"],
                                          trip_on=DATABASE_FAILURES),
                   monitor=RequestMonitor(host, pid, peer_rows=peers.request_rows),
                   ingest_writer=build_ingest_writer(settings["DATABASE_URL"], settings["INGEST_WRITER"]),
                   host=host, pid=pid, peers=peers)
