"""The process registry and shared measurements on a real Redis: two processes' runtimes in one test process."""
import dataclasses
import time
from datetime import UTC, datetime, timedelta

from config import TestConfig
from services.cluster import registry as cluster_registry
from services.cluster.connection import connect
from services.monitoring import performance
from services.monitoring.prometheus import RuntimeCollector
from services.runtime.process import build_runtime

SETTINGS = {name: getattr(TestConfig, name) for name in dir(TestConfig) if name.isupper()}


def member(redis, cluster_name: str, pid: int) -> cluster_registry.Registry:
    runtime = build_runtime(SETTINGS)
    runtime = dataclasses.replace(runtime, pid=pid, monitor=performance.RequestMonitor(
        runtime.host, pid, peer_rows=runtime.peers.request_rows))
    return cluster_registry.Registry(runtime, redis, cluster_name)


def test_health_names_the_leader_and_every_process(redis, cluster_name):
    first, second = member(redis, cluster_name, 101), member(redis, cluster_name, 102)
    first.lease.refresh()
    second.lease.refresh()
    for process in (first, second, first):  # the first beat of the first process is before the second's entry
        process.beat()
    for view in (first.health(), second.health()):
        assert view["status"] == "ok" and view["leader"] == first.name
        assert [(item["pid"], item["clients"]["sockets"]) for item in view["processes"]] == [(101, 0), (102, 0)]
        assert all(datetime.fromisoformat(item["last_heartbeat"]) for item in view["processes"])
    assert first.is_leader() and first.fence() == (first.lease.fence_key, 1)
    assert not second.is_leader() and second.fence() is None


def test_a_process_that_stops_beating_is_pruned(redis, cluster_name):
    gone, staying = member(redis, cluster_name, 201), member(redis, cluster_name, 202)
    gone.beat()
    stale = time.time() - cluster_registry.STALE_AFTER_SECONDS - 1
    redis.hset(gone.processes_key, gone.name, redis.hget(gone.processes_key, gone.name).replace(
        str(gone.last_beat).encode(), str(stale).encode()))
    staying.beat()
    assert [item["pid"] for item in staying.health()["processes"]] == [202]
    assert staying.runtime.peers.processes == []
    assert redis.hkeys(staying.processes_key) == [staying.name.encode()]


def test_an_entry_that_cannot_be_read_is_dropped_without_stopping_the_heartbeat(redis, cluster_name):
    process = member(redis, cluster_name, 251)
    redis.hset(process.processes_key, mapping={"old:1": b"not json", "old:2": b'{"host": "old"}'})
    process.beat()
    assert process.failure is None
    assert [item["pid"] for item in process.health()["processes"]] == [251]
    assert redis.hkeys(process.processes_key) == [process.name.encode()]


def test_each_process_sees_the_others_unflushed_requests_ingest_and_host(redis, cluster_name):
    first, second = member(redis, cluster_name, 301), member(redis, cluster_name, 302)
    now = time.time()
    first.runtime.monitor.record("/api/v1/ingest", "POST", 200, 4.0, now=now)
    first.runtime.monitor.record("/api/v1/ingest", "POST", 500, 8.0, now=now)
    second.runtime.monitor.record("/api/v1/ingest", "POST", 200, 2.0, now=now)
    first.runtime.ingested["transactions"] += 7
    for process in (first, second):
        process.runtime.latest_sample = {"host": process.runtime.host, "pid": process.runtime.pid,
                                         "cpu": {"percent": 5.0, "load_avg": [0.1]}, "memory": {"percent": 40.0},
                                         "disk": {"percent": 50.0}, "process": {"rss": 1000, "cpu_percent": 1.0}}
    first.beat()
    second.beat()
    first.beat()
    rows = second.runtime.monitor.snapshot_unflushed()
    assert sorted((row["pid"], row["count"]) for row in rows) == [(301, 2), (302, 1)]
    assert second.runtime.peers.ingested()["transactions"] == 7
    assert [peer.sample["pid"] for peer in second.runtime.peers.processes] == [301]
    scraped = {(metric.name, tuple(sorted(sample.labels.items())), sample.value)
               for metric in RuntimeCollector(second.runtime).collect() for sample in metric.samples}
    assert ("pulseboard_ingested_items", (("host", first.runtime.host), ("kind", "transactions"), ("pid", "301")),
            7) in scraped
    assert {dict(labels)["pid"] for name, labels, _ in scraped if name == "pulseboard_host_cpu_percent"} == {"301", "302"}
    # One family per name, both processes in it: a second TYPE line for a name makes the scrape invalid.
    names = [metric.name for metric in RuntimeCollector(second.runtime).collect()]
    assert len(names) == len(set(names))


def test_a_minute_already_flushed_is_not_counted_again_from_a_peers_heartbeat(redis, cluster_name, db_session):
    first, second = member(redis, cluster_name, 401), member(redis, cluster_name, 402)
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    first.runtime.monitor.record("/x", "GET", 200, 3.0, now=minute.timestamp() + 1)
    first.beat()
    second.beat()  # second now holds first's row for that minute
    performance.flush(db_session, first.runtime.monitor.drain_completed())  # then first stores it
    db_session.commit()
    second.runtime.monitor.record("/x", "GET", 200, 5.0)
    rows = second.runtime.monitor.snapshot_unflushed()
    assert performance.summary(db_session, minute, datetime.now(UTC), rows)["count"] == 2
    per_process = performance.process_stats(db_session, minute, datetime.now(UTC), rows)
    assert [(item["pid"], item["count"]) for item in per_process] == [(401, 1), (402, 1)]


def test_without_redis_a_process_sees_no_peers_and_health_is_degraded(cluster_name):
    alone = cluster_registry.Registry(build_runtime(SETTINGS), connect("redis://127.0.0.1:1/0", timeout=0.2), cluster_name)
    alone.beat()
    view = alone.health()
    assert view["status"] == "degraded" and view["leader"] is None and "Redis unreachable" in view["error"]
    assert [item["pid"] for item in view["processes"]] == [alone.runtime.pid]
    assert not alone.lease.refresh() and not alone.is_leader()


def test_a_heartbeat_redis_refuses_makes_health_degraded(redis, cluster_name):
    process = member(redis, cluster_name, 501)
    process.beat()
    redis.set(process.processes_key, "not a hash")  # HSET then fails with WRONGTYPE, as it would with OOM
    process.beat()
    view = process.health()
    assert view["status"] == "degraded" and "Redis refused the heartbeat" in view["error"]
