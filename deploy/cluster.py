"""`make cluster` (python -m deploy.cluster): CLUSTER_PROCESSES server processes on ports PORT+1.. behind nginx on
HOST:PORT, sharing PostgreSQL (DATABASE_URL) and Redis (SOCKETIO_MESSAGE_QUEUE, RATELIMIT_STORAGE_URI).

Ctrl-C or SIGTERM stops nginx and every process; so does the death of any one of them.
"""
import argparse
import ctypes
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

from config import INSTANCE_DIR, Config, SettingError, resolve_secret_key

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("nginx.conf")
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_DIR = ROOT / "instance" / "cluster"
TEMP_FOLDERS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass
class ClusterProcess:
    name: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen) -> None:
    """End a process we started: politely, then by force after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def cluster_environment(environ: dict) -> dict:
    """The settings every process shares, with Redis defaults filled in; refuses what a cluster cannot run on."""
    env = {name: value for name, value in environ.items() if value != ""}  # empty is unset, as config.env_str reads it
    if not env.get("DATABASE_URL", "").startswith("postgresql"):
        raise SettingError("a cluster needs PostgreSQL, shared by every process: set DATABASE_URL, e.g. "
                           "postgresql+psycopg://postgres@127.0.0.1:5432/pulseboard (SQLite is for one process)")
    env.setdefault("SOCKETIO_MESSAGE_QUEUE", DEFAULT_REDIS)
    env.setdefault("RATELIMIT_STORAGE_URI", env["SOCKETIO_MESSAGE_QUEUE"])
    for name in ("SOCKETIO_MESSAGE_QUEUE", "RATELIMIT_STORAGE_URI"):
        if not env[name].startswith(("redis://", "rediss://", "unix://")):
            raise SettingError(f"{name} must be a Redis URL in a cluster (redis://…), not {env[name]!r}; "
                               f"unset, it is {DEFAULT_REDIS}")
    return env


def process_environment(shared: dict, secret_key: str, public_url: str) -> dict:
    """The processes' settings: loopback only (nginx faces the clients), one secret key for all, nginx trusted."""
    return shared | {"HOST": "127.0.0.1", "SECRET_KEY": secret_key, "TRUSTED_PROXIES": "1",
                     "EXTERNAL_URL": shared.get("EXTERNAL_URL") or public_url, "PYTHONUNBUFFERED": "1"}


def render_nginx_config(prefix: Path, listen: str, backend_ports: list[int], settings: dict) -> str:
    """deploy/nginx.conf with its fields filled: every path under `prefix`, one upstream server per process, the
    body and connection limits of the processes' `settings`."""
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in backend_ports)
    # Started by root, nginx would hand its workers to `nobody`, who may not enter the prefix folder.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    # Each client holds two connections of nginx's: its own and the one to its process. Only root may open more
    # files than its hard limit.
    connections = 2 * int_setting(settings, "MAX_CONNECTIONS")
    if os.geteuid() != 0:
        connections = min(connections, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    fields = {"prefix": str(prefix), "listen": listen, "servers": servers,
              "max_body_size": str(int_setting(settings, "MAX_CONTENT_LENGTH")), "worker_connections": str(connections)}
    text = TEMPLATE.read_text()
    for name, value in fields.items():
        text = text.replace("{{" + name + "}}", value)
    return user + text


def int_setting(settings: dict, name: str) -> int:
    """An integer setting as the processes get it: from `settings` (the environment), else Config's default."""
    return int(settings.get(name) or getattr(Config, name))


def start_nginx(prefix: Path, listen: str, backend_ports: list[int], settings: dict) -> ClusterProcess:
    """Write the config under `prefix` and start Debian's nginx on it, as the current user, in the foreground."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        raise FileNotFoundError("nginx is not installed: `make cluster` installs it (apt-get install nginx)")
    for folder in TEMP_FOLDERS:
        (prefix / "temp" / folder).mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(render_nginx_config(prefix, listen, backend_ports, settings))
    # -e: the error log from the first line on, before the config names it (the built-in one needs root).
    argv = [nginx, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
    return spawn("nginx", argv, os.environ.copy(), prefix / "nginx.out")


def start_process(port: int, env: dict, log_dir: Path) -> ClusterProcess:
    """`python app.py` on `port` with `env`, its output in log_dir/process-<port>.log."""
    return spawn(f"process :{port}", [sys.executable, "app.py"], env | {"PORT": str(port)}, log_dir / f"process-{port}.log")


def spawn(name: str, argv: list[str], env: dict, log_path: Path) -> ClusterProcess:
    with log_path.open("wb") as log:
        # Its own session: Ctrl-C reaches the launcher alone, which stops the children in order.
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=die_with_parent)
    return ClusterProcess(name, process, log_path)


def die_with_parent() -> None:
    """For Popen's preexec_fn: SIGTERM when the launcher ends, even by SIGKILL, so no child keeps its port."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_until_answering(child: ClusterProcess, url: str, timeout: float = 60) -> None:
    """Wait until `url` answers 200; raise with the child's log if it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {url} within {timeout} s:\n{child.log_path.read_text()}")


def credentials_in(log_path: Path) -> list[str]:
    """The username and password lines of a process's start banner (app.py's print_banner)."""
    return [line for line in log_path.read_text().splitlines() if line.startswith(("  username:", "  password:"))]


class Cluster:
    """The running processes and nginx, stopped together."""

    def __init__(self) -> None:
        self.children: list[ClusterProcess] = []

    def start(self, env: dict, ports: list[int], prefix: Path, listen: str) -> None:
        """The first process alone (it migrates the schema and creates the admin), then the others, then nginx."""
        first = self.add(start_process(ports[0], env, prefix))
        wait_until_answering(first, f"http://127.0.0.1:{ports[0]}/healthz")
        # The demo sender, if asked for, runs in the first process only: one feed, not one per process.
        others = [self.add(start_process(port, env | {"DEMO": "0"}, prefix)) for port in ports[1:]]
        for port, child in zip(ports[1:], others, strict=True):
            wait_until_answering(child, f"http://127.0.0.1:{port}/healthz")
        nginx = self.add(start_nginx(prefix, listen, ports, env))
        wait_until_answering(nginx, f"http://{loopback_for(listen)}/healthz")

    def add(self, child: ClusterProcess) -> ClusterProcess:
        self.children.append(child)
        return child

    def first_exited(self) -> ClusterProcess | None:
        return next((child for child in self.children if child.process.poll() is not None), None)

    def stop(self) -> None:
        """nginx first, so no request reaches a process on its way out; then the processes."""
        for child in reversed(self.children):
            child.stop()


def loopback_for(listen: str) -> str:
    host, port = listen.rsplit(":", 1)
    return f"{'127.0.0.1' if host in ('0.0.0.0', '[::]', '') else host}:{port}"


def run(prefix: Path) -> int:
    """Start the cluster from the environment, print where it serves, and wait for Ctrl-C or a death."""
    env = cluster_environment(dict(os.environ))
    count, host, port = int_setting(env, "CLUSTER_PROCESSES"), env.get("HOST") or Config.HOST, int_setting(env, "PORT")
    if count < 1:
        raise SettingError(f"CLUSTER_PROCESSES must be 1 or more, not {count}")
    ports = [port + index for index in range(1, count + 1)]
    public_url = f"http://{host}:{port}"
    secret_key = resolve_secret_key(env.get("SECRET_KEY"), host, INSTANCE_DIR)
    env = process_environment(env, secret_key, public_url)
    prefix.mkdir(parents=True, exist_ok=True)
    cluster = Cluster()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # through the finally below, as Ctrl-C does
    try:
        cluster.start(env, ports, prefix, f"{host}:{port}")
        print(f"Pulseboard cluster: {count} processes (ports {ports[0]}-{ports[-1]}) behind nginx, serving on "
              f"{public_url}/admin/dashboard", *credentials_in(cluster.children[0].log_path),
              f"  logs: {prefix}/*.log; Ctrl-C stops everything", sep="\n", flush=True)
        while (exited := cluster.first_exited()) is None:
            time.sleep(0.5)
        print(f"{exited.name} exited with {exited.process.returncode}; stopping the cluster "
              f"(its log: {exited.log_path})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help=f"nginx's config, pid, temp files and every log (default {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    load_dotenv(ROOT / ".env")  # what app.py reads too; the settings below are read from the environment after it
    try:
        return run(args.dir.resolve())
    except (SettingError, FileNotFoundError, RuntimeError) as error:
        print(f"Pulseboard cluster cannot start: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
