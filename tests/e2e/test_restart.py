"""A restart of the server starts a new stream (a new epoch): real Socket.IO and SSE clients that resume with a
cursor of the old one are told to resync and then follow the new numbering, even where the old seq fits it."""
import json
import subprocess
import sys
import time

import pytest

from tests.e2e.realtime_clients import SocketClient, SseReader
from tests.e2e.test_ingest_server import create_api_key
from tests.e2e.test_realtime import ingest, sale, transaction_ids
from tests.servers import LIVE_ADMIN, ROOT, ServerProcess, die_with_parent, login_session, start_server, wait_until_healthy

# Nothing but what the test ingests moves the seq, so the new stream can be made to pass the old one's seq.
QUIET = {"LIVE_UPDATE_INTERVAL": "3600", "SYSTEM_SAMPLE_INTERVAL": "3600", "SSE_HEARTBEAT_SECONDS": "0.5",
         "INGEST_RATE_LIMIT": "10000 per second", "ADMIN_PASSWORD": LIVE_ADMIN[1]}


def restart(server: ServerProcess) -> ServerProcess:
    """Stop the server and start a new process in its place: same port, database and settings (a deploy).
    Its output goes to a log of its own, next to the first one."""
    server.stop()
    log_path = server.log_path.with_name(f"{server.log_path.stem}-{time.monotonic_ns()}.log")
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=server.env, stdout=log,
                                   stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    restarted = ServerProcess(server.url, server.env, log_path, process)
    wait_until_healthy(restarted)
    return restarted


class Deployment:
    """One server for the module that each test restarts as it needs: the database, API key and session
    cookies outlive every restart."""

    def __init__(self, workdir):
        self.server = start_server(workdir, **QUIET)
        self.server.api_key = create_api_key(self.server)
        self.session = login_session(self.server)
        self.outputs: list[str] = []

    def restart(self) -> ServerProcess:
        stopped, self.server = self.server, restart(self.server)
        self.outputs.append(stopped.output())
        self.server.api_key = stopped.api_key
        return self.server


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    deployed = Deployment(tmp_path_factory.mktemp("restart"))
    yield deployed
    deployed.server.stop()
    logs = "".join(deployed.outputs) + deployed.server.output()
    assert "Traceback" not in logs, logs


def status_of(client: SocketClient) -> dict:
    return client.wait_for(lambda events: client.payloads("status"))[0]


def test_socketio_resume_from_before_a_restart_resyncs_once_then_follows_the_new_numbering(deployment):
    server, session = deployment.server, deployment.session
    before = SocketClient(server, session)
    old_epoch = status_of(before)["epoch"]
    before.emit("join_room", {"room": "transactions"})
    before.wait_for(lambda events: len(before.payloads("status")) == 2)
    ingest(server, {"transactions": [sale("old-1")]})
    before.wait_for(lambda events: "old-1" in transaction_ids(before))
    since = before.payloads("transaction")[-1]["seq"]

    server = deployment.restart()
    before.close()
    for n in range(since + 3):  # the new stream passes the old cursor: its seq alone would look resumable
        ingest(server, {"transactions": [sale(f"new-{n}")]})
    after = SocketClient(server, session)  # the session cookie outlives the process
    status = status_of(after)
    assert status["epoch"] != old_epoch and status["seq"] > since
    after.emit("resume", {"since": since, "epoch": old_epoch, "rooms": ["transactions"]})
    [resync] = after.wait_for(lambda events: after.payloads("resync"))
    assert (resync["epoch"], resync["seq"]) == (status["epoch"], status["seq"]) and "restarted" in resync["reason"]
    ingest(server, {"transactions": [sale("live-1")]})
    after.wait_for(lambda events: "live-1" in transaction_ids(after))
    # Nothing of the new stream was replayed as if it followed the old cursor; live pushes follow the resync.
    assert transaction_ids(after) == ["live-1"] and after.payloads("transaction")[0]["seq"] > resync["seq"]
    assert len(after.payloads("resync")) == 1
    after.close()


def test_an_old_client_with_a_bare_seq_is_resynced_when_the_seq_does_not_fit(deployment):
    server, session = deployment.server, deployment.session
    for n in range(5):
        ingest(server, {"transactions": [sale(f"old-{n}")]})
    since = status_of(client := SocketClient(server, session))["seq"]
    client.close()
    server = deployment.restart()
    after = SocketClient(server, session)
    after.emit("resume", {"since": since, "rooms": ["transactions"]})
    [resync] = after.wait_for(lambda events: after.payloads("resync"))
    assert resync["seq"] < since and f"seq {since} is ahead" in resync["reason"]
    ingest(server, {"transactions": [sale("live-1")]})
    after.wait_for(lambda events: "live-1" in transaction_ids(after))
    after.close()


def sse_transactions(frames: list[dict]) -> list[tuple[str, str]]:
    """(event id, transaction id) of each transaction frame."""
    return [(frame["id"], item["id"]) for frame in frames if frame.get("event") == "transaction"
            for item in json.loads(frame["data"])["items"]]


@pytest.mark.parametrize("via", ["header", "query"])
def test_sse_last_event_id_from_before_a_restart_resyncs_once_then_follows_the_new_numbering(deployment, via):
    server, session = deployment.server, deployment.session
    reader = SseReader(session.get(server.url + "/admin/api/stream?channels=transaction", stream=True, timeout=10))
    ingest(server, {"transactions": [sale("old-1")]})
    [(last_id, _)] = sse_transactions(reader.read_until(sse_transactions))
    reader.close()
    old_epoch, since = last_id.split(":")

    server = deployment.restart()
    for n in range(int(since) + 3):
        ingest(server, {"transactions": [sale(f"new-{n}")]})
    resume = {"headers": {"Last-Event-ID": last_id}} if via == "header" else {"params": {"last_event_id": last_id}}
    reader = SseReader(session.get(server.url + "/admin/api/stream?channels=transaction", stream=True, timeout=10,
                                   **resume))
    frames = reader.read_until(lambda frames: any(frame.get("event") == "resync" for frame in frames))
    [resync] = [frame for frame in frames if frame.get("event") == "resync"]
    body = json.loads(resync["data"])
    new_epoch = body["epoch"]
    assert new_epoch != old_epoch and resync["id"] == f"{new_epoch}:{body['seq']}" and body["seq"] > int(since)
    ingest(server, {"transactions": [sale("live-1")]})
    reader.read_until(lambda frames: sse_transactions(frames))
    reader.close()
    [(event_id, order)] = sse_transactions(reader.frames)
    assert order == "live-1" and event_id.startswith(f"{new_epoch}:") and int(event_id.split(":")[1]) > body["seq"]
    assert sum(frame.get("event") == "resync" for frame in reader.frames) == 1
