"""Real Pulseboard server processes (`python app.py`) on free loopback ports: started, waited for and stopped.

The one place for this, used on purpose by both the end-to-end tests (also as a pytest plugin, for the
fixtures below) and the benchmarks (bench/), so keep its public names stable for both.
"""
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
LIVE_ADMIN = ("admin", "live-admin-password")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def die_with_parent() -> None:
    """For Popen's preexec_fn: the child gets SIGTERM when the process that started it ends."""
    # A server left behind would keep its port (SO_REUSEPORT) and answer the next run with old code.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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


def stop_process(process: subprocess.Popen) -> None:
    """End a process we started: politely, then by force after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
