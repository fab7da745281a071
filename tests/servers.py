"""Real Pulseboard server processes (`python app.py`) on free loopback ports: started, waited for and stopped.

The one place for this, used on purpose by both the end-to-end tests (also as a pytest plugin, for the
fixtures below) and the benchmarks (bench/), so keep its public names stable for both.
"""
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

# A server left behind would keep its port (SO_REUSEPORT) and answer the next run with old code: every child dies
# with the process that started it (die_with_parent), and the launcher of `make cluster` does the same.
from deploy.cluster import die_with_parent, stop_process

ROOT = Path(__file__).resolve().parent.parent
LIVE_ADMIN = ("admin", "live-admin-password")
REDIS_URL = os.environ.get("PULSEBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_ADDRESS = ("127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]))  # for a TcpProxy in front of it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServerProcess:
    url: str
    env: dict
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no handler runs, nothing is flushed."""
        self.process.kill()
        self.process.wait(timeout=10)


def start_server(workdir: Path, **settings) -> ServerProcess:
    """Start `python app.py` with `settings` as environment and wait until /healthz answers."""
    env = {key: value for key, value in os.environ.items() if key not in ("ADMIN_PASSWORD", "DEMO")}
    # No default alert rules unless a test asks: a busy CI machine's CPU would raise alerts no test expects.
    env.update(HOST="127.0.0.1", SECRET_KEY="live-secret", DEMO="0", ALERT_DEFAULT_RULES="0",
               DATABASE_URL=f"sqlite:///{workdir / 'pulseboard.db'}")
    env.update({key: str(value) for key, value in settings.items()})
    return spawn([sys.executable, "app.py"], workdir, env)


def spawn(argv: list[str], workdir: Path, env: dict) -> ServerProcess:
    """Start a server on a free loopback port (PORT in its environment, or {port} in argv), ended with us."""
    port = free_port()
    env = {**env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([part.format(port=port) for part in argv], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    server = ServerProcess(f"http://127.0.0.1:{port}", env, log_path, process)
    wait_until_healthy(server)
    return server


def wait_until_healthy(server: ServerProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.output()}")
        try:
            if requests.get(server.url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not answer /healthz within {timeout}s:\n{server.output()}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """One real server for the session, with a known admin password."""
    server = start_server(tmp_path_factory.mktemp("live"), ADMIN_USERNAME=LIVE_ADMIN[0], ADMIN_PASSWORD=LIVE_ADMIN[1])
    yield server
    server.stop()


@pytest.fixture
def server_factory(tmp_path):
    """Start servers with custom settings for one test; all are stopped after it."""
    started = []

    def start(**settings) -> ServerProcess:
        server = start_server(tmp_path, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def ingest_server(request, server_factory):
    """One server on each database, taking ingest as fast as the tests send it (PostgreSQL: conftest's postgres_url)."""
    settings = {"ADMIN_PASSWORD": LIVE_ADMIN[1], "INGEST_RATE_LIMIT": "10000 per second"}
    if request.param == "postgresql":
        settings["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return server_factory(**settings)


@dataclass
class Cluster:
    """Server processes of one cluster (own CLUSTER_NAME, own PostgreSQL database, one Redis), nginx optionally."""
    name: str
    database_url: str
    processes: list[ServerProcess]
    nginx_url: str | None = None

    @property
    def url(self) -> str:
        """Where clients go: nginx when it is in front, else the first process."""
        return self.nginx_url or self.processes[0].url


@contextmanager
def start_cluster(workdir: Path, n: int, nginx: bool = False, **settings):
    """n processes on one Redis and one fresh PostgreSQL, nginx in front if asked; everything ends with the block.

    The first process starts alone (it migrates the schema and creates the admin LIVE_ADMIN), then the others.
    A cluster name of its own keeps the cluster's Redis keys and channels apart; they are deleted afterwards.
    """
    from deploy import cluster as deployment  # the launcher's own nginx, so the tests run the config it ships
    from tests.conftest import fresh_postgres_database

    name = f"test-cluster-{uuid.uuid4().hex[:10]}"
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_postgres_database())
        stack.callback(forget_redis_keys, stack.enter_context(reachable_redis()), name)
        settings = {"DATABASE_URL": database_url, "SOCKETIO_MESSAGE_QUEUE": REDIS_URL, "RATELIMIT_STORAGE_URI": REDIS_URL,
                    "CLUSTER_NAME": name, "ADMIN_USERNAME": LIVE_ADMIN[0], "ADMIN_PASSWORD": LIVE_ADMIN[1],
                    "TRUSTED_PROXIES": int(nginx)} | settings
        processes = []
        for _ in range(n):
            processes.append(start_server(workdir, **settings))
            stack.callback(processes[-1].stop)
        cluster = Cluster(name, database_url, processes)
        if nginx:
            prefix, port = workdir / f"nginx-{name}", free_port()
            ports = [int(process.env["PORT"]) for process in processes]
            proxy = deployment.start_nginx(prefix, f"127.0.0.1:{port}", ports, processes[0].env)
            stack.callback(proxy.stop)
            cluster.nginx_url = f"http://127.0.0.1:{port}"
            deployment.wait_until_answering(proxy, cluster.nginx_url + "/healthz")
        yield cluster


@contextmanager
def reachable_redis():
    """A client of the tests' Redis, closed afterwards; skips (fails in CI) when Redis does not answer."""
    from services.cluster.connection import REDIS_DOWN, connect
    from tests.conftest import service_missing

    redis = connect(REDIS_URL)
    try:
        redis.ping()
    except REDIS_DOWN as error:
        redis.close()
        service_missing("Redis at " + REDIS_URL, error)
    try:
        yield redis
    finally:
        redis.close()


def forget_redis_keys(redis, cluster_name: str) -> None:
    """Every key holding the cluster's name: its own (name:…) and flask-limiter's (…/name/…)."""
    for found in redis.scan_iter(f"*{cluster_name}*"):
        redis.delete(found)


@pytest.fixture
def redis():
    """A client of the tests' Redis (the test is skipped, or fails in CI, when Redis does not answer)."""
    with reachable_redis() as client:
        yield client


@pytest.fixture
def cluster_name(redis):
    """A cluster of the test's own, so tests never share Redis keys or channels; its keys go afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    forget_redis_keys(redis, name)


@pytest.fixture
def cluster_factory(tmp_path):
    """start_cluster for one test: `cluster_factory(2, nginx=True, **settings)`; everything is stopped after it."""
    with ExitStack() as stack:
        yield lambda n, **settings: stack.enter_context(start_cluster(tmp_path, n, **settings))


def login_session(server: ServerProcess, username: str = LIVE_ADMIN[0], password: str = LIVE_ADMIN[1]):
    """A requests session logged in through the real form; `.csrf` holds the page's token."""
    session = requests.Session()
    form = session.get(server.url + "/login", timeout=5).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    response = session.post(server.url + "/login", data={"username": username, "password": password,
                                                          "csrf_token": token}, timeout=10)
    assert response.status_code == 200 and response.url.endswith("/admin/dashboard"), response.text[:500]
    session.csrf = re.search(r'name="csrf-token" content="([^"]+)"', response.text).group(1)
    session.headers["X-CSRFToken"] = session.csrf
    return session
