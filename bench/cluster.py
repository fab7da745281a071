"""Cluster: processes on one Redis and one PostgreSQL (tests/servers.start_cluster), each against one process.

- fan-out: N clients on one process against N on each of two (2N in all), one broadcast posted on the first;
  the per-broadcast p99 (median of broadcasts, bench.fanout's figure) should stay the same with twice the clients;
- ingest on A → screen on B: one transaction posted to A until a client on B has it (bench.ingest_to_screen);
- idle cost of each process of two, with nobody connected: CPU over a window and RSS;
- ingest items/s on PostgreSQL, 500-item batches (bench.ingest's senders), to each process of two against one.

Clients go to each process directly, not through nginx: ip_hash sends every client of this one machine to
one process.
"""
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from bench.common import cpu_seconds, figure, latency_summary, progress, rounded
from bench.fanout import CLIENTS_PER_PROCESS, WARMUPS, clear_of_ping_rounds, deliveries, lost, ping_rounds, split
from bench.fleet import Fleet
from bench.ingest import BATCH_ITEMS, build_templates, create_api_key, send_batches
from bench.ingest_to_screen import sample
from tests.servers import login_session, start_cluster

QUICK = {"clients": 200, "broadcasts": 15, "screen_samples": 50, "idle_s": 10.0, "ingest_s": 3.0, "ingest_runs": 1}
FULL = {"clients": 1_000, "broadcasts": 40, "screen_samples": 200, "idle_s": 30.0, "ingest_s": 10.0, "ingest_runs": 3}
GOALS = {"fanout_ratio": 1.1, "screen_p99_ms": 30, "idle_cpu_percent": 2, "idle_rss_mb": 120, "ingest_ratio": 1.0}
SETTINGS = {"INGEST_RATE_LIMIT": "1000000 per second"}


def run(quick: bool = False) -> dict:
    plan = QUICK if quick else FULL
    results = {"plan": plan}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        workdir = Path(tmp)
        for name, step in (("fanout", fanout), ("ingest_to_screen", ingest_to_screen), ("idle", idle), ("ingest", ingest)):
            progress(f"cluster {name}: starting")
            try:
                results[name] = step(workdir / name, plan)
            # One step failing must not hide the others' figures; start_cluster skips, as in tests, without a service.
            except (Exception, pytest.skip.Exception) as error:  # noqa: BLE001
                progress(f"cluster {name}: {error!r}")
                results[name] = {"error": repr(error)}
    results["figures"] = figures(results)
    return results


def fanout(workdir: Path, plan: dict) -> dict:
    """The same clients per process on one process, then on each of two."""
    return {str(n): fanout_trial(workdir / f"n{n}", n, plan["clients"], plan["broadcasts"]) for n in (1, 2)}


def fanout_trial(workdir: Path, processes: int, per_process: int, broadcasts: int) -> dict:
    workdir.mkdir(parents=True)
    with start_cluster(workdir, processes, **SETTINGS) as cluster:
        http = login_session(cluster.processes[0])
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        timeout = 3 + processes * per_process / 1000
        fleets = [Fleet(split(per_process, CLIENTS_PER_PROCESS), workdir, 120 + (broadcasts + WARMUPS) * (timeout + 1),
                        concurrency=48, **socket_options(process.url, cookie, "notifications", "notification"))
                  for process in cluster.processes]
        connects = [fleet.wait_connected(timeout=60 + per_process / 50) for fleet in fleets]
        progress(f"cluster fanout {processes} × {per_process}: {[c['connected'] for c in connects]} connected")
        cpu = BroadcastCpu([server.process.pid for server in cluster.processes])
        rounds, sent = ping_rounds([SimpleNamespace(result={"connect": connect}) for connect in connects]), {}
        for mark in range(-WARMUPS, broadcasts):
            clear_of_ping_rounds(rounds, 0.5)
            window, at = cpu.start(), time.time()
            response = http.post(cluster.processes[0].url + "/admin/api/notifications", timeout=30,
                                 json={"title": f"bench {mark} {at:.6f}"})
            response.raise_for_status()
            for fleet in fleets:
                fleet.wait_complete(mark, timeout)
            if mark >= 0:
                sent[mark] = at
                cpu.add(window)
            time.sleep(0.2)
        outputs = [renumbered(output, index * per_process) for index, fleet in enumerate(fleets) for output in fleet.finish()]
    result = {"processes": processes, "clients": processes * per_process, "connected": sum(c["connected"] for c in connects),
              "server_cpu_ms_per_broadcast": cpu.per_broadcast_ms(len(sent))} | deliveries(outputs, sent)
    progress(f"cluster fanout {processes} × {per_process}: per-broadcast p99 {result.get('p99_median_of_broadcasts_ms')} ms,"
             f" CPU per broadcast {result['server_cpu_ms_per_broadcast']} ms, lost {lost(result)}")
    return result


class BroadcastCpu:
    """Each server process's CPU inside the broadcast windows, less what it burns at idle in as long."""

    def __init__(self, pids: list[int], idle_seconds: float = 2.0) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        before, started = self.now(), time.perf_counter()
        time.sleep(idle_seconds)
        elapsed = time.perf_counter() - started
        self.idle_rates = [(after - cpu) / elapsed for after, cpu in zip(self.now(), before, strict=True)]
        self.busy = [0.0] * len(pids)

    def now(self) -> list[float]:
        return [cpu_seconds(process) for process in self.processes]

    def start(self) -> tuple[list[float], float]:
        return self.now(), time.perf_counter()

    def add(self, window: tuple[list[float], float]) -> None:
        time.sleep(0.05)  # the last writes of the broadcast, still inside its window
        before, started = window
        elapsed = time.perf_counter() - started
        for index, (after, cpu) in enumerate(zip(self.now(), before, strict=True)):
            self.busy[index] += after - cpu - self.idle_rates[index] * elapsed

    def per_broadcast_ms(self, broadcasts: int) -> list[float | None]:
        return [rounded(max(0.0, busy) / broadcasts * 1e3, 2) if broadcasts else None for busy in self.busy]


def socket_options(url: str, cookie: str, room: str, event: str) -> dict:
    """bench.fanout_clients' options for clients of one process in `room`, timing `event`."""
    return {"url": url, "cookie": cookie, "namespace": "/admin", "join": f'["join_room",{{"room":"{room}"}}]',
            "room": room, "joined_event": "status", "event": event}


def renumbered(output: dict, offset: int) -> dict:
    """A client process's results with its client numbers moved past the other fleets' (each counts from 0)."""
    return output | {"arrivals": [(client + offset, mark, arrival) for client, mark, arrival in output["arrivals"]]}


def ingest_to_screen(workdir: Path, plan: dict) -> dict:
    """One transaction at a time ingested on A, timed to its arrival at a client on B."""
    workdir.mkdir(parents=True)
    with start_cluster(workdir, 2, **SETTINGS) as cluster:
        a, b = cluster.processes
        http = login_session(a)
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        http.headers["Authorization"] = f"Bearer {create_api_key(a.env)}"
        fleet = Fleet([1], workdir, 120 + plan["screen_samples"], **socket_options(b.url, cookie, "transactions", "transaction"))
        try:
            if fleet.wait_connected(30)["connected"] != 1:
                raise RuntimeError("the client on B did not connect")
            sample(fleet, http, a.url + "/api/v1/events", range(-5, 0))
            phase = sample(fleet, http, a.url + "/api/v1/events", range(plan["screen_samples"]))
        finally:
            [output] = fleet.finish()
    arrivals = {mark: arrival for _, mark, arrival in output["arrivals"]}
    sent = phase.pop("sent")
    delays = [arrivals[mark] - at for mark, at in sent.items() if mark in arrivals]
    result = phase | {"latency": latency_summary(delays), "lost": len(sent) - len(delays)}
    progress(f"cluster ingest A → screen B: {result['latency']}, lost {result['lost']}")
    return result


def idle(workdir: Path, plan: dict) -> dict:
    """Each process of two, nobody connected: CPU share of a core over the window, and RSS at its end."""
    workdir.mkdir(parents=True)
    with start_cluster(workdir, 2, **SETTINGS) as cluster:
        processes = [psutil.Process(server.process.pid) for server in cluster.processes]
        time.sleep(5)  # past start-up: migrations checked, first heartbeats, the lease settled
        before, started = [cpu_seconds(process) for process in processes], time.perf_counter()
        time.sleep(plan["idle_s"])
        elapsed = time.perf_counter() - started
        result = [{"cpu_percent": rounded((cpu_seconds(process) - cpu) / elapsed * 100, 2),
                   "rss_mb": rounded(process.memory_info().rss / 2**20, 1)}
                  for process, cpu in zip(processes, before, strict=True)]
    progress(f"cluster idle: {result}")
    return {"seconds": plan["idle_s"], "processes": result}


def ingest(workdir: Path, plan: dict) -> dict:
    """bench.ingest's senders (4 threads) to each process at once: one process, then two, on PostgreSQL."""
    return {str(n): ingest_trial(workdir / f"n{n}", n, plan) for n in (1, 2)}


def ingest_trial(workdir: Path, processes: int, plan: dict) -> dict:
    workdir.mkdir(parents=True)
    with start_cluster(workdir, processes, **SETTINGS) as cluster:
        key, templates = create_api_key(cluster.processes[0].env), build_templates()
        urls = [server.url + "/api/v1/events" for server in cluster.processes]

        def send(tag: str, batches: int) -> list[dict]:
            return in_parallel(lambda url, index: send_batches(url, key, templates, f"{tag}-{index}", batches,
                                                               plan["ingest_s"]), urls)

        send("warm", 20)
        servers, runs = [psutil.Process(server.process.pid) for server in cluster.processes], []
        for number in range(plan["ingest_runs"]):
            server_cpu, client_cpu = [cpu_seconds(server) for server in servers], time.process_time()
            sent = send(f"r{number}", 10**6)
            elapsed = max(part["elapsed"] for part in sent)
            # Where the two cores went: the senders share this process's GIL, PostgreSQL runs beside them.
            runs.append({"items_per_s": rounded(sum(part["accepted"] for part in sent) / elapsed, 0),
                         "failed_batches": sum(len(part["failures"]) for part in sent),
                         "server_cpu_cores": [rounded((cpu_seconds(server) - cpu) / elapsed)
                                              for server, cpu in zip(servers, server_cpu, strict=True)],
                         "client_cpu_cores": rounded((time.process_time() - client_cpu) / elapsed),
                         **latency_summary([latency for part in sent for latency in part["latencies"]])})
    items_per_s = sorted(run["items_per_s"] for run in runs)[len(runs) // 2]
    progress(f"cluster ingest, {processes} process(es) on PostgreSQL: {items_per_s:,.0f} items/s ({BATCH_ITEMS}-item batches)")
    return {"processes": processes, "items_per_s": items_per_s, "runs": runs}


def in_parallel(send, urls: list[str]) -> list[dict]:
    """send(url, index) for every url at once, each in a thread; their results in url order."""
    results = [None] * len(urls)

    def one(index: int) -> None:
        results[index] = send(urls[index], index)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def figures(results: dict) -> list[dict]:
    return fanout_figures(results.get("fanout") or {}) + screen_figures(results.get("ingest_to_screen") or {}) \
        + idle_figures(results.get("idle") or {}) + ingest_figures(results.get("ingest") or {})


def fanout_figures(trials: dict) -> list[dict]:
    one, two = trials.get("1") or {}, trials.get("2") or {}
    p99_one, p99_two = one.get("p99_median_of_broadcasts_ms"), two.get("p99_median_of_broadcasts_ms")
    cpu_one, cpu_two = (max(trial.get("server_cpu_ms_per_broadcast") or [None]) if trial else None for trial in (one, two))
    return [figure(f"cluster fanout: 1 process, {one.get('clients')} clients, per-broadcast p99 (median)", p99_one, "ms"),
            figure(f"cluster fanout: 2 processes, {two.get('clients')} clients, per-broadcast p99 (median)", p99_two, "ms"),
            figure("cluster fanout: that p99, 2 processes ÷ 1", p99_two / p99_one if p99_one and p99_two else None, "×",
                   GOALS["fanout_ratio"], higher_is_better=False),
            figure("cluster fanout: server CPU per broadcast, 1 process", cpu_one, "ms"),
            figure("cluster fanout: server CPU per broadcast, the busier of 2 processes", cpu_two, "ms"),
            figure("cluster fanout: messages lost or duplicated (2 processes)", lost(two) if two else None, "msgs", 0,
                   higher_is_better=False)]


def screen_figures(result: dict) -> list[dict]:
    latency = result.get("latency") or {}
    return [figure("cluster ingest on A → screen on B: p50", latency.get("p50_ms"), "ms"),
            figure("cluster ingest on A → screen on B: p99", latency.get("p99_ms"), "ms", GOALS["screen_p99_ms"],
                   higher_is_better=False),
            figure("cluster ingest on A → screen on B: lost", result.get("lost"), "msgs", 0, higher_is_better=False)]


def idle_figures(result: dict) -> list[dict]:
    processes = result.get("processes") or []
    worst = lambda name: max((process[name] for process in processes), default=None)  # noqa: E731
    return [figure(f"cluster idle: CPU of the busier of 2 processes over {result.get('seconds')} s", worst("cpu_percent"),
                   "% of a core", GOALS["idle_cpu_percent"], higher_is_better=False),
            figure("cluster idle: RSS of the larger process", worst("rss_mb"), "MB", GOALS["idle_rss_mb"],
                   higher_is_better=False)]


def ingest_figures(trials: dict) -> list[dict]:
    one, two = (trials.get(n, {}).get("items_per_s") for n in ("1", "2"))
    return [figure("cluster ingest PostgreSQL, 1 process: items/s", one, "items/s"),
            figure("cluster ingest PostgreSQL, 2 processes: items/s", two, "items/s"),
            figure("cluster ingest: 2 processes ÷ 1", two / one if one and two else None, "×", GOALS["ingest_ratio"])]
