"""The leader's live_update carries its fencing token: a tick that outlives its lease is refused by the cluster_name stream."""
import dataclasses
from datetime import UTC, datetime

from config import TestConfig
from services.analytics import kpis
from services.cluster import registry as cluster_registry
from services.realtime.broadcaster import LiveBroadcaster
from services.runtime.process import build_runtime
from tests.servers import REDIS_URL


def process(redis, cluster_name: str, pid: int) -> cluster_registry.Registry:
    settings = {name: getattr(TestConfig, name) for name in dir(TestConfig) if name.isupper()}
    runtime = dataclasses.replace(build_runtime(settings | {"SOCKETIO_MESSAGE_QUEUE": REDIS_URL, "CLUSTER_NAME": cluster_name}),
                                  pid=pid)
    runtime.hub.join()
    runtime.presence.join("sid", "admin", seq=0)
    return cluster_registry.Registry(runtime, redis, cluster_name)


def stream_length(redis, cluster_name: str) -> int:
    return redis.xlen(f"{cluster_name}:stream")


def test_only_the_leader_broadcasts(redis, cluster_name, db_session):
    leader, follower = process(redis, cluster_name, 11), process(redis, cluster_name, 12)
    leader.lease.refresh()
    follower.lease.refresh()
    now = datetime.now(UTC)
    assert LiveBroadcaster(follower.runtime, follower.runtime.presence, 1.0, follower).tick(db_session, now) is None
    assert LiveBroadcaster(leader.runtime, leader.runtime.presence, 1.0, leader).tick(db_session, now) is not None
    assert stream_length(redis, cluster_name) == 1


def test_a_tick_that_outlives_its_lease_is_refused(redis, cluster_name, db_session, monkeypatch):
    old, new = process(redis, cluster_name, 21), process(redis, cluster_name, 22)
    old_clock = [0.0]
    old.lease.clock = lambda: old_clock[0]
    old.lease.refresh()
    computing = kpis.live_snapshot

    def paused_meanwhile(*args):
        """The old leader stops here (SIGSTOP, a long pause) past its lease, and the other process takes over."""
        old_clock[0] += old.lease.ttl
        redis.delete(old.lease.key)  # as Redis does once the ttl is over
        assert new.lease.refresh()
        return computing(*args)

    monkeypatch.setattr(kpis, "live_snapshot", paused_meanwhile)
    assert LiveBroadcaster(old.runtime, old.runtime.presence, 1.0, old).tick(db_session, datetime.now(UTC)) is None
    assert stream_length(redis, cluster_name) == 0
    monkeypatch.setattr(kpis, "live_snapshot", computing)
    assert LiveBroadcaster(new.runtime, new.runtime.presence, 1.0, new).tick(db_session, datetime.now(UTC)) is not None
    assert stream_length(redis, cluster_name) == 1
