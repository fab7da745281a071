"""The leader's live_update carries its fencing token: a tick that outlives its lease is refused by the cluster stream."""
import dataclasses
import os
import uuid
from datetime import UTC, datetime

import pytest

from config import TestConfig
from services.analytics import kpis
from services.cluster import registry as cluster_registry
from services.cluster.connection import REDIS_DOWN, connect
from services.realtime.broadcaster import LiveBroadcaster
from services.runtime.process import build_runtime
from tests.conftest import service_missing

REDIS_URL = os.environ.get("PULSEBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis():
    client = connect(REDIS_URL)
    try:
        client.ping()
    except REDIS_DOWN as error:
        service_missing("Redis at " + REDIS_URL, error)
    yield client
    client.close()


@pytest.fixture
def cluster(redis):
    name = f"test-fence-{uuid.uuid4().hex[:8]}"
    yield name
    for stale in redis.scan_iter(f"{name}:*"):
        redis.delete(stale)


def process(redis, cluster: str, pid: int) -> cluster_registry.Registry:
    settings = {name: getattr(TestConfig, name) for name in dir(TestConfig) if name.isupper()}
    runtime = dataclasses.replace(build_runtime(settings | {"SOCKETIO_MESSAGE_QUEUE": REDIS_URL, "CLUSTER_NAME": cluster}),
                                  pid=pid)
    runtime.hub.join()
    runtime.presence.join("sid", "admin", seq=0)
    return cluster_registry.Registry(runtime, redis, cluster)


def stream_length(redis, cluster: str) -> int:
    return redis.xlen(f"{cluster}:stream")


def test_only_the_leader_broadcasts(redis, cluster, db_session):
    leader, follower = process(redis, cluster, 11), process(redis, cluster, 12)
    leader.lease.refresh()
    follower.lease.refresh()
    now = datetime.now(UTC)
    assert LiveBroadcaster(follower.runtime, follower.runtime.presence, 1.0, follower).tick(db_session, now) is None
    assert LiveBroadcaster(leader.runtime, leader.runtime.presence, 1.0, leader).tick(db_session, now) is not None
    assert stream_length(redis, cluster) == 1


def test_a_tick_that_outlives_its_lease_is_refused(redis, cluster, db_session, monkeypatch):
    old, new = process(redis, cluster, 21), process(redis, cluster, 22)
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
    assert stream_length(redis, cluster) == 0
    monkeypatch.setattr(kpis, "live_snapshot", computing)
    assert LiveBroadcaster(new.runtime, new.runtime.presence, 1.0, new).tick(db_session, datetime.now(UTC)) is not None
    assert stream_length(redis, cluster) == 1
