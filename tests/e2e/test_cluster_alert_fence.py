"""Real servers: a cluster leader's alert passes write its lease's fencing token into leader_fences, and its
successor's token replaces it; a process alone evaluates without writing any (issue 16)."""
import time

from sqlalchemy import text

from database import create_database_engine
from services.cluster.connection import key
from services.cluster.lease import holder_name
from tests.servers import LIVE_ADMIN, login_session


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


def test_a_process_alone_evaluates_without_a_fence(server_factory):
    server = server_factory(ALERT_EVALUATION_INTERVAL="1", ADMIN_PASSWORD=LIVE_ADMIN[1])
    session = login_session(server)
    silent = {"name": "Nothing heard", "source": "metric", "metric": "e2e.silent", "aggregation": "avg",
              "window_seconds": 60, "comparator": ">", "threshold": 100, "nodata_state": "firing"}
    assert session.post(server.url + "/admin/api/alert-rules", json=silent, timeout=10).status_code == 201
    alerts = eventually(lambda: session.get(server.url + "/admin/api/alerts", timeout=10).json()["alerts"], bool)
    assert [(alert["rule_name"], alert["state"]) for alert in alerts] == [("Nothing heard", "firing")]
    assert fence_row(server.env["DATABASE_URL"]) is None
