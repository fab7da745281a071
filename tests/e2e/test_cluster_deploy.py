"""The deployment: `make cluster`'s launcher (2 processes behind nginx) serves logins, WebSockets, SSE and ingest
through nginx and stops everything on Ctrl-C; start_cluster's nginx carries Socket.IO's long-polling too."""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace

import pytest

from config import SettingError
from deploy.cluster import ClusterProcess, cluster_environment
from tests.conftest import fresh_postgres_database, service_missing
from tests.e2e.realtime_clients import SocketClient, SseReader
from tests.servers import LIVE_ADMIN, REDIS_URL, ROOT, die_with_parent, login_session, reachable_redis

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/pulseboard"


@pytest.fixture
def nginx_installed():
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        service_missing("nginx (make setup installs it)", FileNotFoundError("nginx"))


def free_port_run(count: int) -> int:
    """A port p with p..p+count-1 all free: the launcher puts nginx on PORT and the processes on PORT+1..

    Drawn below Linux's ephemeral range (32768 on), where the next port up may be any connection's own end.
    """
    while True:
        port = random.randrange(20000, 32000)
        if all(port_is_free(port + offset) for offset in range(count)):
            return port


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_launcher(workdir, **settings) -> ClusterProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("ADMIN_PASSWORD", "DEMO")}
    env.update(HOST="127.0.0.1", SECRET_KEY="live-secret", ADMIN_USERNAME=LIVE_ADMIN[0], ADMIN_PASSWORD=LIVE_ADMIN[1],
               DEMO="0", ALERT_DEFAULT_RULES="0", RATELIMIT_STORAGE_URI=REDIS_URL, PYTHONUNBUFFERED="1", **settings)
    log_path = workdir / "launcher.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "deploy.cluster", "--dir", str(workdir / "cluster")], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    return ClusterProcess("launcher", process, log_path)


def wait_for_banner(launcher: ClusterProcess, timeout: float = 60) -> str:
    """The launcher's output once it says where the cluster serves (after nginx answers)."""
    deadline = time.monotonic() + timeout
    while "Ctrl-C stops everything" not in (output := launcher.log_path.read_text()):
        assert launcher.process.poll() is None and time.monotonic() < deadline, output
        time.sleep(0.1)
    return output


def receive_a_transaction_through(url: str, key: str, session, sockets: list[SocketClient], sse: SseReader) -> None:
    """Ingest one transaction at `url`; every socket client and the SSE stream get it."""
    for client in sockets:
        client.emit("join_room", {"room": "transactions"})
        client.wait_for(lambda events, client=client: len(client.payloads("status")) == 2)
    sse.read_until(lambda frames: frames)  # connected: its first heartbeat came through
    response = session.post(url + "/api/v1/events", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                            json={"transactions": [{"id": "through-nginx", "amount": "5.00", "currency": "USD",
                                                    "status": "completed", "user_id": "u"}]})
    assert response.status_code == 202, response.text
    for client in sockets:
        client.wait_for(lambda events, client=client: [t for t in client.payloads("transaction")
                                                       if any(i["id"] == "through-nginx" for i in t["items"])])
    sse.read_until(lambda frames: any(frame.get("event") == "transaction" and "through-nginx" in frame["data"]
                                      for frame in frames))


def health_cluster(session, url: str) -> dict:
    return session.get(url + "/admin/api/health", timeout=10).json()["components"]["cluster"]


def wait_for_processes(session, url: str, count: int, timeout: float = 10) -> None:
    """Wait until health lists `count` processes in the cluster (each joins with its first heartbeat)."""
    deadline = time.monotonic() + timeout
    while len((cluster := health_cluster(session, url))["processes"]) < count:
        assert time.monotonic() < deadline, cluster
        time.sleep(0.2)


@pytest.mark.usefixtures("nginx_installed")
def test_the_launcher_serves_websocket_and_sse_through_nginx_and_stops_on_ctrl_c(tmp_path):
    with reachable_redis() as redis, fresh_postgres_database() as database_url:
        name, port = f"test-deploy-{uuid.uuid4().hex[:10]}", free_port_run(3)
        launcher = start_launcher(tmp_path, DATABASE_URL=database_url, SOCKETIO_MESSAGE_QUEUE=REDIS_URL, PORT=str(port),
                                  CLUSTER_NAME=name, CLUSTER_PROCESSES="2", INGEST_RATE_LIMIT="1000 per second",
                                  SSE_HEARTBEAT_SECONDS="0.5")
        try:
            nginx = SimpleNamespace(url=f"http://127.0.0.1:{port}")
            banner = wait_for_banner(launcher)
            assert f"serving on {nginx.url}/admin/dashboard" in banner and f"password: {LIVE_ADMIN[1]}" in banner
            session = login_session(nginx)
            key = session.post(nginx.url + "/admin/api/api-keys", json={"name": "deploy"}, timeout=10).json()["key"]
            wait_for_processes(session, nginx.url, 2)
            # One client through nginx, one straight on the process nginx may not send this address to.
            sockets = [SocketClient(nginx, session), SocketClient(SimpleNamespace(url=f"http://127.0.0.1:{port + 2}"), session)]
            sse = SseReader(session.get(nginx.url + "/admin/api/stream?channels=transaction", stream=True, timeout=10))
            try:
                receive_a_transaction_through(nginx.url, key, session, sockets, sse)
            finally:
                sse.close()
                for client in sockets:
                    client.close()
            launcher.process.send_signal(signal.SIGINT)
            assert launcher.process.wait(timeout=30) == 0, launcher.log_path.read_text()
            assert not any(answers(port + offset) for offset in range(3)), "a process or nginx outlived the launcher"
        finally:
            launcher.stop()
            for found in redis.scan_iter(f"*{name}*"):
                redis.delete(found)


@pytest.mark.parametrize("settings, refused", [
    ({}, "a cluster needs PostgreSQL"),
    ({"DATABASE_URL": "sqlite:///x.db"}, "a cluster needs PostgreSQL"),
    ({"DATABASE_URL": POSTGRES, "SOCKETIO_MESSAGE_QUEUE": "amqp://127.0.0.1"}, "SOCKETIO_MESSAGE_QUEUE must be a Redis URL"),
    ({"DATABASE_URL": POSTGRES, "RATELIMIT_STORAGE_URI": "memory://"}, "RATELIMIT_STORAGE_URI must be a Redis URL"),
])
def test_the_launcher_refuses_what_a_cluster_cannot_share(settings, refused):
    with pytest.raises(SettingError, match=refused):
        cluster_environment(settings)


def test_the_launcher_puts_queue_and_limits_on_local_redis_unless_told():
    # Empty, as .env.example leaves both, is unset.
    env = cluster_environment({"DATABASE_URL": POSTGRES, "SOCKETIO_MESSAGE_QUEUE": "", "RATELIMIT_STORAGE_URI": ""})
    assert env["SOCKETIO_MESSAGE_QUEUE"] == env["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    env = cluster_environment({"DATABASE_URL": POSTGRES, "SOCKETIO_MESSAGE_QUEUE": "redis://10.0.0.5:6379/2"})
    assert env["RATELIMIT_STORAGE_URI"] == "redis://10.0.0.5:6379/2"


def test_the_launcher_refuses_sqlite(tmp_path):
    launcher = start_launcher(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'one.db'}", PORT=str(free_port_run(1)))
    assert launcher.process.wait(timeout=30) == 1
    assert "a cluster needs PostgreSQL" in launcher.log_path.read_text()


@pytest.mark.usefixtures("nginx_installed")
def test_long_polling_sessions_stick_to_one_process_through_nginx(cluster_factory):
    cluster = cluster_factory(2, nginx=True, INGEST_RATE_LIMIT="1000 per second", SSE_HEARTBEAT_SECONDS="0.5")
    session = login_session(cluster)
    key = session.post(cluster.url + "/admin/api/api-keys", json={"name": "polling"}, timeout=10).json()["key"]
    # Every long-polling request of a session must reach the process holding it, or Engine.IO answers 400.
    polling = SocketClient(cluster, session, transports=("polling",))
    sse = SseReader(session.get(cluster.url + "/admin/api/stream?channels=transaction", stream=True, timeout=10))
    try:
        receive_a_transaction_through(cluster.processes[1].url, key, session, [polling], sse)
        time.sleep(1)  # a few more polls, each of which must land on the same process
        assert polling.sio.connected
    finally:
        sse.close()
        polling.close()
