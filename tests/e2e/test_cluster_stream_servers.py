"""Two server processes on one Redis and one PostgreSQL: the cluster's stream numbers every push once for both, a
client resumes on the other process with exactly what it missed (Socket.IO and SSE), and a Redis cut loses nothing
accepted and heals by itself."""
import time

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.e2e.realtime_clients import SocketClient, SseReader
from tests.e2e.test_ingest_server import create_api_key
from tests.servers import LIVE_ADMIN, REDIS_ADDRESS, REDIS_URL, login_session
from tests.tcp_proxy import TcpProxy


@pytest.fixture
def start_process(server_factory, cluster_name, postgres_url):
    """Start one process of the test's cluster (on `queue`, the Redis URL, unless told)."""
    def start(queue: str = REDIS_URL):
        server = server_factory(DATABASE_URL=postgres_url, SOCKETIO_MESSAGE_QUEUE=queue, CLUSTER_NAME=cluster_name,
                                ADMIN_PASSWORD=LIVE_ADMIN[1], INGEST_RATE_LIMIT="10000 per second",
                                SYSTEM_SAMPLE_INTERVAL="3600", SSE_HEARTBEAT_SECONDS="0.5")
        server.session = login_session(server)
        return server
    return start


@pytest.fixture
def clients():
    opened = []

    def open_client(server, *rooms):
        client = SocketClient(server, server.session)
        opened.append(client)
        client.wait_for(lambda events: client.payloads("status"))
        for room in rooms:
            client.emit("join_room", {"room": room})
        client.wait_for(lambda events: len(client.payloads("status")) == 1 + len(rooms))
        return client

    yield open_client
    for client in opened:
        client.close()


def ingest(server, key: str, *ids: str) -> None:
    response = requests.post(server.url + "/api/v1/events", timeout=30, headers={"Authorization": f"Bearer {key}"},
                             json={"transactions": [{"id": id, "amount": "2.00", "currency": "USD", "status": "completed",
                                                     "user_id": "u"} for id in ids]})
    assert response.status_code == 202 and response.json()["accepted"] == len(ids), response.text


def pushed(client) -> list[tuple[int, str]]:
    """(seq, id) of every transaction item the client received, in order."""
    return [(payload["seq"], item["id"]) for payload in client.payloads("transaction") for item in payload["items"]]


def pushed_ids(client) -> list[str]:
    return [id for _, id in pushed(client)]


def stream_state(server) -> dict:
    return server.session.get(server.url + "/admin/api/health", timeout=10).json()["components"]["realtime"]["stream"]


def test_a_client_on_b_gets_what_was_ingested_on_a_with_the_seq_a_client_on_a_sees(start_process, clients):
    a, b = start_process(), start_process()
    key = create_api_key(a)
    on_a, on_b = clients(a, "transactions"), clients(b, "transactions")
    assert on_a.payloads("status")[0]["epoch"] == on_b.payloads("status")[0]["epoch"]
    ingest(a, key, "t-1")
    ingest(b, key, "t-2")
    ingest(a, key, "t-3")
    for client in (on_a, on_b):
        client.wait_for(lambda events, client=client: len(pushed_ids(client)) == 3)
    assert pushed(on_a) == pushed(on_b)
    assert pushed_ids(on_a) == ["t-1", "t-2", "t-3"] and [seq for seq, _ in pushed(on_a)] == sorted({s for s, _ in pushed(on_a)})


def test_a_client_that_drops_from_a_resumes_on_b_with_exactly_what_it_missed(start_process, clients):
    a = start_process()
    key = create_api_key(a)
    dropped = clients(a, "transactions")
    ingest(a, key, "seen")
    dropped.wait_for(lambda events: pushed_ids(dropped) == ["seen"])
    since, epoch = pushed(dropped)[-1][0], dropped.payloads("status")[0]["epoch"]
    dropped.close()
    ingest(a, key, "missed-1")
    ingest(a, key, "missed-2", "missed-3")
    b = start_process()  # started after the pushes: it replays them from Redis, not from its own buffer
    resumed = clients(b)
    resumed.emit("resume", {"since": since, "epoch": epoch, "rooms": ["transactions"]})
    resumed.wait_for(lambda events: len(pushed_ids(resumed)) == 3)
    ingest(b, key, "live")
    resumed.wait_for(lambda events: "live" in pushed_ids(resumed))
    assert pushed_ids(resumed) == ["missed-1", "missed-2", "missed-3", "live"]
    assert not resumed.payloads("resync")


def test_an_sse_client_resumes_on_b_with_last_event_id(start_process):
    a, b = start_process(), start_process()
    key = create_api_key(a)
    first = SseReader(a.session.get(a.url + "/admin/api/stream?channels=transaction", stream=True, timeout=30))
    ingest(a, key, "seen")
    frames = first.read_until(lambda frames: any(frame.get("event") == "transaction" for frame in frames))
    last_id = [frame["id"] for frame in frames if frame.get("event") == "transaction"][-1]
    first.close()
    ingest(b, key, "missed-1")
    ingest(a, key, "missed-2")
    resumed = SseReader(b.session.get(b.url + "/admin/api/stream?channels=transaction", stream=True, timeout=30,
                                      headers={"Last-Event-ID": last_id}))
    transactions = lambda frames: [frame for frame in frames if frame.get("event") == "transaction"]  # noqa: E731
    resumed.read_until(lambda frames: len(transactions(frames)) == 2)
    resumed.close()
    assert [frame["data"].count('"missed-') for frame in transactions(resumed.frames)] == [1, 1]
    assert '"missed-1"' in transactions(resumed.frames)[0]["data"] and '"missed-2"' in transactions(resumed.frames)[1]["data"]
    assert not [frame for frame in resumed.frames if frame.get("event") == "resync"]


def stored_ids(postgres_url: str) -> set[str]:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT external_id FROM transactions"))}
    finally:
        engine.dispose()


def test_a_redis_cut_loses_nothing_accepted_and_the_process_rejoins_the_cluster_stream(start_process, clients,
                                                                                       postgres_url):
    with TcpProxy(REDIS_ADDRESS) as proxy:
        queue = f"redis://127.0.0.1:{proxy.port}/0"
        a, b = start_process(queue), start_process(queue)
        key = create_api_key(a)
        on_a = clients(a, "transactions")
        cluster_epoch = on_a.payloads("status")[0]["epoch"]
        proxy.cut()
        during = [f"cut-{n}" for n in range(5)]
        for id in during:
            ingest(a, key, id)
        # This process's own pushes reach its clients, after one resync to its own numbering.
        on_a.wait_for(lambda events: set(during) <= set(pushed_ids(on_a)))
        assert on_a.payloads("resync")[0]["epoch"] != cluster_epoch
        assert stream_state(a)["mode"] == "local" and "Redis unreachable" in stream_state(a)["degraded"]
        proxy.restore()
        restored = time.monotonic()
        for server in (a, b):
            deadline = restored + 10
            while stream_state(server)["mode"] != "cluster":
                assert time.monotonic() < deadline, f"{server.url} not back on the cluster stream: {stream_state(server)}"
                time.sleep(0.2)
        assert stream_state(a)["epoch"] == stream_state(b)["epoch"] == cluster_epoch
        on_a.wait_for(lambda events: on_a.payloads("resync")[-1]["epoch"] == cluster_epoch)
        ingest(b, key, "after")
        on_a.wait_for(lambda events: "after" in pushed_ids(on_a))
    assert set(during) | {"after"} <= stored_ids(postgres_url)
