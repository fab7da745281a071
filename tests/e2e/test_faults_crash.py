"""SIGKILL of the server while senders keep posting: after a restart, every acknowledged item is stored exactly once."""
import threading
import time

import pytest

from tests.e2e.faults import Sender, assert_no_traceback, assert_stored_exactly, restart
from tests.e2e.test_ingest_server import create_api_key

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
