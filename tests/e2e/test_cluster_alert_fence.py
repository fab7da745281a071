"""Real servers: a cluster leader's alert passes write its lease's fencing token into leader_fences, and its
successor's token replaces it; after Redis loses the cluster's keys the leader raises its token above the row and
alerting goes on; a process alone evaluates without writing any (issue 16)."""
import time

from sqlalchemy import text

from database import create_database_engine
from services.cluster.connection import key
from services.cluster.lease import holder_name
from tests.servers import LIVE_ADMIN, forget_redis_keys, login_session

SILENT_RULE = {"name": "Nothing heard", "source": "metric", "metric": "e2e.silent", "aggregation": "avg",
               "window_seconds": 60, "comparator": ">", "threshold": 100, "nodata_state": "firing"}


def fence_row(database_url: str) -> int | None:
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT token FROM leader_fences WHERE name = 'alert_evaluator'")).scalar()
    finally:
        engine.dispose()


def eventually(read, until, timeout: float = 20):
    """`read()` once `until` holds for it; fails after `timeout` seconds with the last value read."""
    deadline = time.monotonic() + timeout
    while not until(value := read()):
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(0.2)
    return value


def test_the_leaders_token_fences_its_passes_and_its_successors_replaces_it(cluster_factory, redis):
    cluster = cluster_factory(2, ALERT_EVALUATION_INTERVAL="1")
    counter = key(cluster.name, "lease", "leader", "fence")
    first = eventually(lambda: fence_row(cluster.database_url), lambda token: token is not None)
    assert first == int(redis.get(counter))
    holder = holder_name(redis.get(key(cluster.name, "lease", "leader")).decode())
    [leader] = [process for process in cluster.processes if holder.endswith(f":{process.process.pid}")]
    leader.kill()  # its lease expires and the other process takes it with the next token
    assert eventually(lambda: fence_row(cluster.database_url), lambda token: token != first) == first + 1
    assert int(redis.get(counter)) == first + 1


def test_after_redis_loses_the_fence_counter_the_leader_raises_it_and_keeps_firing_alerts(cluster_factory, redis):
    cluster = cluster_factory(2, ALERT_EVALUATION_INTERVAL="1")
    counter, lease = key(cluster.name, "lease", "leader", "fence"), key(cluster.name, "lease", "leader")
    eventually(lambda: fence_row(cluster.database_url), lambda token: token is not None)
    # A history first: the counter at 56 and the lease taken again, so the leader writes 57 into the row.
    redis.set(counter, 56)
    redis.delete(lease)
    eventually(lambda: fence_row(cluster.database_url), lambda token: token == 57)
    session = login_session(cluster.processes[0])
    forget_redis_keys(redis, cluster.name)  # Redis restarted empty: the counter starts again at 1, below the row
    healed_by = time.monotonic() + 10
    # Until its next renewal fails the leader still leads with 57, which the row accepts: the rule comes once the
    # lease is taken anew and the row holds the new holding's raised token.
    eventually(lambda: fence_row(cluster.database_url), lambda token: token != 57, timeout=healed_by - time.monotonic())
    assert session.post(cluster.url + "/admin/api/alert-rules", json=SILENT_RULE, timeout=10).status_code == 201
    alerts = eventually(lambda: session.get(cluster.url + "/admin/api/alerts", timeout=10).json()["alerts"], bool,
                        timeout=healed_by - time.monotonic())
    assert [(alert["rule_name"], alert["state"]) for alert in alerts] == [("Nothing heard", "firing")]
    assert fence_row(cluster.database_url) == int(redis.get(counter)) > 57
    assert any("fence counter behind the database: raised from 1 to 58" in process.output() for process in cluster.processes)


def test_a_process_alone_evaluates_without_a_fence(server_factory):
    server = server_factory(ALERT_EVALUATION_INTERVAL="1", ADMIN_PASSWORD=LIVE_ADMIN[1])
    session = login_session(server)
    assert session.post(server.url + "/admin/api/alert-rules", json=SILENT_RULE, timeout=10).status_code == 201
    alerts = eventually(lambda: session.get(server.url + "/admin/api/alerts", timeout=10).json()["alerts"], bool)
    assert [(alert["rule_name"], alert["state"]) for alert in alerts] == [("Nothing heard", "firing")]
    assert fence_row(server.env["DATABASE_URL"]) is None
