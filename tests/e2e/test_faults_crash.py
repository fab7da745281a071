"""SIGKILL of the server, or of its ingest writer process, while senders keep posting: every acknowledged item is
stored exactly once."""
import threading
import time

import psutil
import pytest

from tests.e2e.faults import Sender, assert_no_traceback, assert_stored_exactly, restart
from tests.e2e.test_ingest_server import create_api_key
from tests.servers import LIVE_ADMIN, login_session

SENDERS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'crash.db'}"


def send_until_killed(server, key: str, round_name: str) -> list[Sender]:
    """Senders post until the server dies under them, killed once they have had 40 batches acknowledged."""
    senders = [Sender(server.url, key, f"{round_name}-s{n}") for n in range(SENDERS)]
    stop = threading.Event()
    threads = [threading.Thread(target=sender.run, args=(stop,)) for sender in senders]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while sum(len(sender.acked) for sender in senders) < 40 * 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    return senders


def test_sigkill_loses_no_acknowledged_item(server_factory, database_url):
    server = server_factory(DATABASE_URL=database_url, INGEST_RATE_LIMIT="10000 per second")
    key = create_api_key(server)
    acked, unanswered, servers = {}, {}, [server]
    try:
        for round_name in ("first", "second"):
            senders = send_until_killed(servers[-1], key, round_name)
            assert [answer for sender in senders for answer in sender.other_answers] == []
            for sender in senders:
                acked |= sender.acked
                unanswered |= sender.unanswered
            servers.append(restart(servers[-1]))
        assert len(acked) >= 2 * 40 * 20
        rows = assert_stored_exactly(database_url, acked, maybe=unanswered)
    finally:
        servers[-1].stop()
    print(f"{len(acked)} items acknowledged, {len(unanswered)} unanswered of which "
          f"{len(set(unanswered) & set(rows))} stored")
    for each in servers:
        assert_no_traceback(each)


def writer_child(server) -> psutil.Process:
    [child] = psutil.Process(server.process.pid).children()
    assert "services.ingest.writer_process" in child.cmdline()
    return child


def test_sigkill_of_the_writer_process_loses_no_acknowledged_item_and_the_next_batches_start_another(
        server_factory, database_url):
    server = server_factory(DATABASE_URL=database_url, INGEST_RATE_LIMIT="10000 per second", ADMIN_PASSWORD=LIVE_ADMIN[1])
    key = create_api_key(server)
    senders = [Sender(server.url, key, f"s{n}", through_unavailable=True) for n in range(SENDERS)]
    stop = threading.Event()
    threads = [threading.Thread(target=sender.run, args=(stop,)) for sender in senders]
    for thread in threads:
        thread.start()
    try:
        acked = lambda: sum(len(sender.acked) for sender in senders)  # noqa: E731
        deadline = time.monotonic() + 30
        while acked() < 20 * 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        killed = writer_child(server)
        killed.kill()
        before = acked()
        while acked() < before + 20 * 20 and time.monotonic() < deadline:  # a new writer stores the next batches
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
    assert [answer for sender in senders for answer in sender.other_answers] == []
    assert acked() >= before + 20 * 20
    replacement = writer_child(server)
    assert replacement.pid != killed.pid
    writer_health = login_session(server).get(server.url + "/admin/api/health", timeout=10).json()["components"][
        "ingest_writer"]
    assert writer_health | {"waiting": 0} == {"status": "ok", "mode": "process", "pid": replacement.pid, "waiting": 0,
                                               "started": 2, "ended_early": 1, "last_exit": -9}
    server.stop()
    replacement.wait(timeout=10)  # and it goes with the server
    assert_stored_exactly(database_url, {k: v for sender in senders for k, v in sender.acked.items()},
                          maybe={k: v for sender in senders for k, v in sender.unanswered.items()})
    assert_no_traceback(server)
