"""Ingest to screen: one transaction posted to /api/v1/events until a Socket.IO client in room
`transactions` receives its `transaction` push; at idle, and while another process ingests ~5,000
metrics/s (500 every 100 ms).

    python -m bench.ingest_to_screen --load URL KEY SECONDS   # the background sender alone
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.common import ROOT, figure, latency_summary, progress
from bench.fanout import start_ours
from bench.fleet import Fleet
from bench.ingest import create_api_key
from tests.servers import die_with_parent

GOALS = {"idle": 30, "load": 100}
LOAD_BATCH, LOAD_INTERVAL = 500, 0.1
WARMUPS = 5


def run(quick: bool = False) -> dict:
    samples = 50 if quick else 200
    results = {"samples_per_phase": samples}
    with tempfile.TemporaryDirectory(prefix="bench-its-") as tmp:
        workdir = Path(tmp)
        target = start_ours(workdir, room="transactions", INGEST_RATE_LIMIT="1000000 per second")
        options = {**target.clients, "event": "transaction"}
        fleet = Fleet([1], workdir, 120 + samples * 2 * 0.5, **options)
        loader = None
        try:
            key = create_api_key(target.server.env)
            http = requests.Session()
            http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            connect = fleet.wait_connected(30)
            if connect["connected"] != 1:
                raise RuntimeError(f"the client did not connect: {connect}")
            url = target.server.url + "/api/v1/events"
            sample(fleet, http, url, range(-WARMUPS, 0))
            results["idle"] = sample(fleet, http, url, range(samples))
            progress(f"ingest_to_screen idle: {len(results['idle']['sent'])} sent, {results['idle']['timeouts']} timeouts")
            seconds = samples * 0.25 + 10
            loader = subprocess.Popen([sys.executable, "-m", "bench.ingest_to_screen", "--load", url, key, str(seconds)],
                                      cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
            time.sleep(2.0)  # the sender reaches its rate
            results["load"] = sample(fleet, http, url, range(10_000, 10_000 + samples))
            progress(f"ingest_to_screen load: {len(results['load']['sent'])} sent, {results['load']['timeouts']} timeouts")
        except Exception as error:  # noqa: BLE001 - reported in the results
            progress(f"ingest_to_screen: {error!r}\n{target.server.output()[-1500:]}")
            results["error"] = repr(error)
        finally:
            if loader is not None:
                loader.terminate()  # it prints its totals on SIGTERM, and stops by itself anyway
                try:
                    out, _ = loader.communicate(timeout=15)
                    results["load_sender"] = json.loads(out.strip().splitlines()[-1])
                except (subprocess.TimeoutExpired, ValueError, IndexError):
                    loader.kill()
                    loader.wait(timeout=10)
            outputs = fleet.finish()
            target.stop()
    for phase in ("idle", "load"):
        if phase in results:
            arrivals = {mark: arrival for _, mark, arrival in outputs[0]["arrivals"]}
            sent = results[phase].pop("sent")
            delays = [arrivals[mark] - at for mark, at in sent.items() if mark in arrivals]
            results[phase]["latency"] = latency_summary(delays)
            results[phase]["lost"] = len(sent) - len(delays)
            progress(f"ingest_to_screen {phase}: {results[phase]['latency']}")
    results["figures"] = figures(results)
    return results


def sample(fleet: Fleet, http: requests.Session, url: str, marks) -> dict:
    """One transaction at a time; the next one after the last arrived (or 5 s passed)."""
    sent, timeouts, request_ms = {}, 0, []
    for mark in marks:
        at = time.time()
        body = {"transactions": [{"id": f"bench {mark} {at:.6f}", "amount": "12.50", "currency": "USD",
                                  "status": "completed", "user_id": "bench-user"}]}
        response = http.post(url, json=body, timeout=30)
        request_ms.append((time.time() - at) * 1e3)
        if response.status_code != 202 or response.json().get("accepted") != 1:
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:300]}")
        sent[mark] = at
        if not fleet.wait_complete(mark, 5.0):
            timeouts += 1
        time.sleep(random.uniform(0.02, 0.08))
    # "latency" is filled in from the client's arrivals once it has reported
    return {"sent": {m: t for m, t in sent.items() if m >= 0}, "timeouts": timeouts,
            "request": latency_summary([ms / 1e3 for ms in request_ms])}


def figures(results: dict) -> list[dict]:
    rows = []
    for phase, label in (("idle", "idle"), ("load", "under ~5,000 events/s")):
        latency = (results.get(phase) or {}).get("latency") or {}
        rows += [figure(f"ingest→screen {label}: p50", latency.get("p50_ms"), "ms"),
                 figure(f"ingest→screen {label}: p99", latency.get("p99_ms"), "ms", GOALS[phase], higher_is_better=False),
                 figure(f"ingest→screen {label}: lost", (results.get(phase) or {}).get("lost"), "msgs", 0,
                        higher_is_better=False)]
    sender = results.get("load_sender") or {}
    rows.append(figure("ingest→screen: background ingest rate achieved", sender.get("items_per_s"), "items/s"))
    return rows


def load(url: str, key: str, seconds: float) -> None:
    """Post LOAD_BATCH metrics every LOAD_INTERVAL for `seconds` (or until SIGTERM); print the totals as JSON."""
    import signal

    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    rng = random.Random(3)
    body = json.dumps({"metrics": [{"name": f"bench.load.{i % 10}", "value": round(rng.uniform(0, 100), 3),
                                    "tags": {"host": f"web-{i % 4}"}} for i in range(LOAD_BATCH)]}).encode()
    http = requests.Session()
    http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    started = time.perf_counter()
    accepted, batches, failures, latencies = 0, 0, 0, []
    due = started
    while not stop[0] and time.perf_counter() - started < seconds:
        due += LOAD_INTERVAL
        before = time.perf_counter()
        try:
            response = http.post(url, data=body, timeout=30)
            latencies.append(time.perf_counter() - before)
            ok = response.status_code == 202
            accepted += response.json().get("accepted", 0) if ok else 0
            failures += 0 if ok else 1
        except requests.RequestException:
            failures += 1
        batches += 1
        time.sleep(max(0.0, due - time.perf_counter()))
    elapsed = time.perf_counter() - started
    print(json.dumps({"batches": batches, "accepted": accepted, "failures": failures, "seconds": round(elapsed, 2),
                      "items_per_s": round(accepted / elapsed), "request": latency_summary(latencies)}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", nargs=3, metavar=("URL", "KEY", "SECONDS"), required=True)
    arguments = parser.parse_args()
    load(arguments.load[0], arguments.load[1], float(arguments.load[2]))
