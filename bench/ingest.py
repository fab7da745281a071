"""Ingest throughput over HTTP: 500-item batches from 4 senders against a real `python app.py`."""
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import psycopg
import requests

from bench.common import ROOT, cpu_seconds, figure, latency_summary, machine_busy_seconds, median, progress, rounded
from tests.servers import start_server

BATCH_MIX = {"transactions": 400, "activities": 75, "metrics": 25}
BATCH_ITEMS = sum(BATCH_MIX.values())
SENDERS = 4
TOKEN = b"@@BATCH@@"  # replaced per batch, so every transaction id is unique without re-encoding JSON
GOALS = {"sqlite": 50_000, "postgresql": 30_000}
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CORES = psutil.cpu_count()
CURRENCIES = ("USD", "USD", "USD", "EUR", "EUR", "GBP", "JPY")
STATUSES = ("completed",) * 7 + ("pending", "failed", "refunded")
ACTIONS = ("page_view", "login", "search", "add_to_cart", "checkout")
METRIC_NAMES = ("api.latency_ms", "queue.depth", "orders.value", "cache.hit_ratio", "worker.jobs")


def run(quick: bool = False) -> dict:
    """Both backends; a median of 3 timed runs each (1 short run in quick mode)."""
    runs, seconds = (1, 3.0) if quick else (3, 10.0)
    results = {"batch_items": BATCH_MIX, "senders": f"{SENDERS} threads, one requests.Session each, bodies pre-encoded",
               "runs_per_backend": runs, "seconds_per_run": seconds, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as workdir:
        results["backends"]["sqlite"] = measure_backend(Path(workdir) / "sqlite", None, runs, seconds)
        with postgres_database() as url:
            results["backends"]["postgresql"] = measure_backend(Path(workdir) / "postgresql", url, runs, seconds)
    results["figures"] = [row for name, backend in results["backends"].items() for row in backend_figures(name, backend)]
    return results


def backend_figures(name: str, backend: dict) -> list[dict]:
    if "error" in backend:
        return [figure(f"ingest {name}: items/s (error: {backend['error']})", None, "items/s", GOALS[name])]
    return [figure(f"ingest {name}: items/s, median of {len(backend['runs'])}", backend["items_per_s"], "items/s",
                   GOALS[name]),
            figure(f"ingest {name}: request p50", backend["p50_ms"], "ms"),
            figure(f"ingest {name}: request p99", backend["p99_ms"], "ms"),
            figure(f"ingest {name}: server CPU per 1,000 items", backend["server_cpu_ms_per_1000_items"], "ms"),
            figure(f"ingest {name}: server CPU (1.0 = one core)", backend["server_cpu_cores"], "cores"),
            figure(f"ingest {name}: client CPU (1.0 = one core)", backend["client_cpu_cores"], "cores"),
            figure(f"ingest {name}: whole machine's CPU per 1,000 items", backend["machine_cpu_ms_per_1000_items"], "ms"),
            figure(f"ingest {name}: items/s the {CORES} cores allow at that cost", backend["machine_ceiling_items_per_s"],
                   "items/s")]


def measure_backend(workdir: Path, database_url: str | None, runs: int, seconds: float) -> dict:
    workdir.mkdir(parents=True)
    settings = {"INGEST_RATE_LIMIT": "1000000 per second"}
    if database_url:
        settings["DATABASE_URL"] = database_url
    progress(f"ingest: starting a server on {database_url or 'a temporary SQLite file'}")
    server = start_server(workdir, **settings)
    try:
        key = create_api_key(server.env)
        url = server.url + "/api/v1/events"
        send_batches(url, key, build_templates(), "warm", 20, seconds)  # warm caches, pools and the JIT-less paths
        measured = [timed_run(url, key, server.process.pid, f"r{index}", seconds) for index in range(runs)]
    except Exception as error:  # one backend failing should not hide the other's numbers
        progress(f"ingest: {error!r}\n{server.output()[-2000:]}")
        return {"error": repr(error)}
    finally:
        server.stop()
    return summarize(measured)


def summarize(measured: list[dict]) -> dict:
    pick = lambda key: rounded(median([run[key] for run in measured]))  # noqa: E731
    return {"items_per_s": pick("items_per_s"), "p50_ms": pick("p50_ms"), "p99_ms": pick("p99_ms"),
            "server_cpu_ms_per_1000_items": pick("server_cpu_ms_per_1000_items"), "client_cpu_cores": pick("client_cpu_cores"),
            "server_cpu_cores": pick("server_cpu_cores"),
            "machine_cpu_ms_per_1000_items": pick("machine_cpu_ms_per_1000_items"),
            "machine_ceiling_items_per_s": pick("machine_ceiling_items_per_s"), "runs": measured}


def timed_run(url: str, key: str, server_pid: int, tag: str, seconds: float) -> dict:
    server = psutil.Process(server_pid)
    server_cpu, client_cpu, machine_cpu = cpu_seconds(server), time.process_time(), machine_busy_seconds()
    sent = send_batches(url, key, build_templates(), tag, 1_000_000, seconds)
    server_cpu, client_cpu = cpu_seconds(server) - server_cpu, time.process_time() - client_cpu
    machine_cpu = machine_busy_seconds() - machine_cpu
    items = sent["accepted"]
    result = {"items_per_s": rounded(items / sent["elapsed"], 0), "batches": sent["batches"], "items": items,
              "elapsed_s": rounded(sent["elapsed"]), "failures": sent["failures"][:5],
              "failed_batches": len(sent["failures"]), **latency_summary(sent["latencies"]),
              "server_cpu_cores": rounded(server_cpu / sent["elapsed"]),
              "server_cpu_ms_per_1000_items": rounded(server_cpu * 1e3 / (items / 1000) if items else None, 1),
              "client_cpu_cores": rounded(client_cpu / sent["elapsed"]),
              # Everything the machine spent per item (server, database, client, kernel), and the rate its cores
              # would allow at that cost if every one were busy: a goal above it needs less work per item.
              "machine_cpu_ms_per_1000_items": rounded(machine_cpu * 1e3 / (items / 1000) if items else None, 1),
              "machine_ceiling_items_per_s": rounded(CORES * items / machine_cpu if machine_cpu else None, 0)}
    progress(f"ingest run {tag}: {result['items_per_s']:,.0f} items/s, p50 {result['p50_ms']} ms, "
             f"p99 {result['p99_ms']} ms, server {result['server_cpu_cores']} cores "
             f"({result['server_cpu_ms_per_1000_items']} ms per 1,000 items), client {result['client_cpu_cores']}, "
             f"machine {result['machine_cpu_ms_per_1000_items']} ms per 1,000 items")
    return result


def send_batches(url: str, key: str, templates: list[bytes], tag: str, max_batches: int, seconds: float) -> dict:
    """Post batches from SENDERS threads until max_batches are sent or `seconds` pass."""
    numbers, latencies, failures, accepted = itertools.count(), [], [], [0]
    started = time.perf_counter()
    deadline = started + seconds

    def sender() -> None:
        with requests.Session() as http:
            http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            while time.perf_counter() < deadline:
                number = next(numbers)  # atomic under the GIL
                if number >= max_batches:
                    return
                body = templates[number % len(templates)].replace(TOKEN, f"{tag}-{number}".encode())
                sent = time.perf_counter()
                response = http.post(url, data=body, timeout=120)
                latencies.append(time.perf_counter() - sent)
                answer = response.json() if response.status_code == 202 else {}
                if answer.get("accepted") != BATCH_ITEMS:
                    failures.append({"status": response.status_code, "body": response.text[:300]})
                accepted[0] += answer.get("accepted", 0)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"elapsed": time.perf_counter() - started, "batches": len(latencies), "accepted": accepted[0],
            "latencies": latencies, "failures": failures}


def build_templates(count: int = 8, seed: int = 7) -> list[bytes]:
    """Encoded batches whose transaction ids carry TOKEN; timestamps are recent, so rollups stay hot."""
    rng, now = random.Random(seed), datetime.now(UTC)
    return [json.dumps(batch_payload(rng, now, variant)).encode() for variant in range(count)]


def batch_payload(rng: random.Random, now: datetime, variant: int) -> dict:
    def moment(max_minutes: int) -> str:
        return (now - timedelta(seconds=rng.uniform(0, max_minutes * 60))).isoformat()

    transactions = [{"id": f"bench-{TOKEN.decode()}-{index}", "amount": f"{rng.uniform(1, 500):.2f}",
                     "currency": rng.choice(CURRENCIES), "status": rng.choice(STATUSES),
                     "user_id": f"user-{rng.randrange(5000)}", "timestamp": moment(360),
                     "metadata": {"sku": f"SKU-{rng.randrange(300)}", "channel": rng.choice(("web", "app"))}}
                    for index in range(BATCH_MIX["transactions"])]
    activities = [{"user_id": f"user-{rng.randrange(5000)}", "action": rng.choice(ACTIONS),
                   "path": f"/shop/{rng.randrange(100)}", "session_id": f"s-{variant}-{rng.randrange(50)}",
                   "timestamp": moment(10)} for _ in range(BATCH_MIX["activities"])]
    metrics = [{"name": rng.choice(METRIC_NAMES), "value": round(rng.uniform(0, 1000), 3), "timestamp": moment(5),
                "tags": {"host": f"web-{rng.randrange(4)}", "region": rng.choice(("eu", "us"))}}
               for _ in range(BATCH_MIX["metrics"])]
    return {"transactions": transactions, "activities": activities, "metrics": metrics}


def create_api_key(server_env: dict) -> str:
    """Through the documented CLI, against the server's own DATABASE_URL."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "api-keys", "create", "bench"],
                          cwd=ROOT, env=server_env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def postgres_database():
    """A fresh database on the local PostgreSQL, dropped afterwards."""
    name = f"pulseboard_bench_{os.getpid()}_{random.randrange(10**6)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
