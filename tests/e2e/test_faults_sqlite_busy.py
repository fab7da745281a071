"""Another process holds SQLite's write lock past the busy timeout: ingest answers 503 + Retry-After, not 500,
and the server serves normally once the lock is released."""
import subprocess
import sys

from database import SERVER_DATABASE_TIMEOUT
from tests.e2e.faults import assert_no_traceback, assert_stored_exactly, batch, post, timed
from tests.e2e.test_ingest_server import create_api_key
from tests.servers import LIVE_ADMIN, login_session

# Takes the write lock, says so, and holds it until told to let go on stdin.
LOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""


def test_a_write_lock_held_elsewhere_gives_503_then_service_resumes(server_factory, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'busy.db'}"
    # Background writers (host samples, maintenance) run once at start and then keep away: under eventlet each
    # write that meets the lock stalls the whole process for the busy timeout, and stacked behind the request's
    # own they would make this a test of how many jobs happen to write during it.
    server = server_factory(DATABASE_URL=database_url, ADMIN_PASSWORD=LIVE_ADMIN[1], SYSTEM_SAMPLE_INTERVAL="3600",
                            MAINTENANCE_INTERVAL="3600")
    key, admin = create_api_key(server), login_session(server)
    acked = batch("before")
    assert post(server.url, key, acked).status_code == 202

    locker = subprocess.Popen([sys.executable, "-c", LOCKER, database_url.removeprefix("sqlite:///")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        elapsed, refused = timed(lambda: post(server.url, key, batch("during")))
    finally:
        locker.communicate("release\n", timeout=10)
    print(f"503 after {elapsed:.2f} s with the lock held")
    assert refused.status_code == 503, refused.text[:300]
    assert int(refused.headers["Retry-After"]) >= 1 and refused.json()["error"]["code"] == "unavailable"
    assert SERVER_DATABASE_TIMEOUT <= elapsed < 3 * SERVER_DATABASE_TIMEOUT

    after = batch("after")
    elapsed, accepted = timed(lambda: post(server.url, key, after))
    assert accepted.status_code == 202 and elapsed < SERVER_DATABASE_TIMEOUT, (elapsed, accepted.text[:300])
    flow = admin.get(server.url + "/admin/api/transactions/flow", timeout=15)
    assert flow.status_code == 200 and flow.json()["total_count"] == 40 and "stale" not in flow.json()
    assert_stored_exactly(database_url, acked | after)
    assert "database unavailable on POST /api/v1/events: (sqlite3.OperationalError) database is locked" in server.output()
    assert_no_traceback(server)
