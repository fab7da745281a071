"""Two server processes on one Redis and one PostgreSQL: one leader named by both, its work taken over when it dies,
no double broadcast from a leader that was paused, cache clears and rate limits that count across processes."""
import os
import re
import signal
import threading
import time

import pytest
import requests

from tests.e2e.realtime_clients import SocketClient
from tests.e2e.test_ingest_server import create_api_key
from tests.servers import LIVE_ADMIN, REDIS_URL, login_session

LIVE_UPDATE_INTERVAL = 0.5


@pytest.fixture
def start_process(server_factory, cluster_name, postgres_url):
    """Start one process of the test's cluster, with rate limits counted in Redis."""
    def start(**settings):
        server = server_factory(**{"DATABASE_URL": postgres_url, "SOCKETIO_MESSAGE_QUEUE": REDIS_URL,
                                   "CLUSTER_NAME": cluster_name, "RATELIMIT_STORAGE_URI": REDIS_URL,
                                   "ADMIN_PASSWORD": LIVE_ADMIN[1], "INGEST_RATE_LIMIT": "10000 per second",
                                   "LIVE_UPDATE_INTERVAL": str(LIVE_UPDATE_INTERVAL), **settings})
        server.session = login_session(server)
        return server
    return start


@pytest.fixture
def dashboards():
    opened = []

    def open_dashboard(server) -> SocketClient:
        """A client in the admin room (live_update) and the transactions room, on `server`."""
        client = SocketClient(server, server.session)
        opened.append(client)
        client.wait_for(lambda events: client.payloads("status"))
        client.emit("join_admin_room")
        client.emit("join_room", {"room": "transactions"})
        client.wait_for(lambda events: len(client.payloads("status")) == 3)
        return client

    yield open_dashboard
    for client in opened:
        client.close()


def health(server) -> dict:
    body = server.session.get(server.url + "/admin/api/health", timeout=10).json()
    return body | {"me": f"{body['host']}:{body['pid']}"}


def leader_of(*servers) -> str:
    """The leader every given process names, once they agree and list each other."""
    deadline = time.monotonic() + 15
    while True:
        views = [health(server) for server in servers]
        leaders = {view["components"]["cluster"]["leader"] for view in views}
        listed = [{f"{item['host']}:{item['pid']}" for item in view["components"]["cluster"]["processes"]} for view in views]
        if len(leaders) == 1 and None not in leaders and all(listed_by == {v["me"] for v in views} for listed_by in listed):
            return leaders.pop()
        assert time.monotonic() < deadline, f"no agreed leader: {views}"
        time.sleep(0.2)


def the_leader_first(a, b):
    leader = leader_of(a, b)
    return (a, b) if leader == health(a)["me"] else (b, a)


def live_updates(client) -> int:
    """The updates a client received; counted by item, since pushes that meet in one fan-out round go as one."""
    return sum(len(payload["items"]) for payload in client.payloads("live_update"))


class Sender(threading.Thread):
    """Ingests one transaction at a time on `server` until stopped, remembering every id accepted."""

    def __init__(self, server) -> None:
        super().__init__(daemon=True)
        self.server, self.key = server, create_api_key(server)
        self.accepted: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            ident = f"tx-{len(self.accepted)}"
            response = requests.post(self.server.url + "/api/v1/events", timeout=10,
                                     headers={"Authorization": f"Bearer {self.key}"},
                                     json={"transactions": [{"id": ident, "amount": "1.00", "currency": "USD",
                                                             "status": "completed", "user_id": "u"}]})
            assert response.status_code == 202, response.text
            self.accepted.append(ident)
            time.sleep(0.05)


def transaction_ids(client) -> list[str]:
    return [item["id"] for payload in client.payloads("transaction") for item in payload["items"]]


def test_the_leaders_death_is_taken_over_without_losing_transactions(start_process, dashboards):
    leader, other = the_leader_first(start_process(), start_process())
    watcher = dashboards(other)
    watcher.wait_for(lambda events: live_updates(watcher) >= 2)  # the leader's broadcast reaches a client of the other
    sender = Sender(other)
    sender.start()
    try:
        time.sleep(1)
        leader.kill()
        killed = live_updates(watcher)
        watcher.wait_for(lambda events: live_updates(watcher) >= killed + 2, timeout=10)
        time.sleep(1)
    finally:
        sender.stopped.set()
        sender.join(timeout=15)
    assert leader_of(other) == health(other)["me"]
    watcher.wait_for(lambda events: len(transaction_ids(watcher)) >= len(sender.accepted), timeout=10)
    assert transaction_ids(watcher) == sender.accepted


def test_a_paused_leader_does_not_broadcast_twice_when_it_resumes(start_process, dashboards):
    leader, other = the_leader_first(start_process(), start_process())
    watcher = dashboards(other)
    os.kill(leader.process.pid, signal.SIGSTOP)
    try:
        before = live_updates(watcher)
        watcher.wait_for(lambda events: live_updates(watcher) >= before + 2, timeout=10)  # the other took over
    finally:
        os.kill(leader.process.pid, signal.SIGCONT)
    counted_from = live_updates(watcher)
    window = 4.0
    time.sleep(window)
    # One leader broadcasts every LIVE_UPDATE_INTERVAL; two would double the count.
    assert live_updates(watcher) - counted_from <= window / LIVE_UPDATE_INTERVAL + 2
    assert leader_of(leader, other) == health(other)["me"]


def test_a_cache_clear_on_one_process_empties_the_others(start_process):
    first, second = start_process(), start_process()
    leader_of(first, second)
    for server in (first, second):
        assert server.session.get(server.url + "/admin/api/analytics/revenue", timeout=10).status_code == 200
    assert second.session.get(second.url + "/admin/api/cache/stats", timeout=10).json()["namespaces"]["revenue"]["size"] >= 1
    cleared = first.session.post(first.url + "/admin/api/cache/clear", json={"namespace": "revenue"}, timeout=10)
    assert cleared.status_code == 200
    deadline = time.monotonic() + 5
    while second.session.get(second.url + "/admin/api/cache/stats", timeout=10).json()["namespaces"]["revenue"]["size"]:
        assert time.monotonic() < deadline, "the clear never reached the other process"
        time.sleep(0.1)
    time.sleep(2.5)  # a heartbeat later, each process's stats list both
    stats = first.session.get(first.url + "/admin/api/cache/stats", timeout=10).json()["cluster"]
    assert {process["pid"] for process in stats["processes"]} == {health(first)["pid"], health(second)["pid"]}


def failed_login(server) -> int:
    session = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      session.get(server.url + "/login", timeout=5).text).group(1)
    return session.post(server.url + "/login", data={"username": LIVE_ADMIN[0], "password": "wrong",
                                                     "csrf_token": token}, timeout=10).status_code


def test_rate_limits_count_across_processes(start_process):
    first, second = start_process(INGEST_RATE_LIMIT="3 per minute"), start_process(INGEST_RATE_LIMIT="3 per minute")
    assert [failed_login(server) for server in (first, second, first, second, first)] == [200] * 5
    assert failed_login(second) == 429
    key = create_api_key(first)
    answers = [requests.post(server.url + "/api/v1/events", json={"metrics": [{"name": "m", "value": 1}]}, timeout=10,
                             headers={"Authorization": f"Bearer {key}"}).status_code for server in (first, second, first, second)]
    assert answers == [202, 202, 202, 429]
