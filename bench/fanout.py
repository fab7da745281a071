"""Fan-out: N real WebSocket clients in one room, one push per broadcast, Pulseboard against the bare stack.

Pulseboard is `python app.py` (DEMO=0) with clients joined to room `notifications` on the admin's session
cookie; a broadcast is `POST /admin/api/notifications`. The bare stack is bench/bare_socketio_app.py
(a room emit from an HTTP endpoint). Both are timed from just before the HTTP request to each client's
receipt, on the same clock, with the clients (bench/fanout_clients.py) in separate processes.

Longer than our other modules: a trial's steps (connect, weigh CPU and memory, interleave broadcasts with the
other target's, turn receipts into figures) all read and write one Trial's state, so they stay together.
"""
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from bench.common import cpu_seconds, figure, latency_summary, median, percentile, progress, rounded
from bench.fleet import Fleet
from tests.servers import LIVE_ADMIN, ServerProcess, login_session, spawn, start_server

QUICK = {"sizes": (100, 1_000), "broadcasts": 15, "hold": None}
FULL = {"sizes": (100, 1_000, 5_000), "broadcasts": 40, "hold": 10_000}
CLIENTS_PER_PROCESS = 5_000
WARMUPS = 2
PING_BURST_SPREAD = 5.0  # s: clients that all opened within this are pinged in one burst every ping interval
GOALS = {"p99_ms_1000": 150, "ratio_1000": 1.1, "kb_per_connection": 40, "hold": 10_000}


@dataclass
class Target:
    name: str
    server: ServerProcess
    clients: dict  # options of bench.fanout_clients
    trigger: Callable[[int, float], None]  # (mark, sent_at) -> one broadcast

    def stop(self) -> None:
        self.server.stop()


def start_ours(workdir: Path, room: str = "notifications", **settings) -> Target:
    workdir.mkdir(parents=True, exist_ok=True)
    server = start_server(workdir, ADMIN_USERNAME=LIVE_ADMIN[0], ADMIN_PASSWORD=LIVE_ADMIN[1], **settings)
    http = login_session(server)
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)

    def trigger(mark: int, sent_at: float) -> None:
        response = http.post(server.url + "/admin/api/notifications", json={"title": f"bench {mark} {sent_at:.6f}"},
                             timeout=30)
        response.raise_for_status()

    options = {"url": server.url, "cookie": cookie, "namespace": "/admin", "join": f'["join_room",{{"room":"{room}"}}]',
               "room": room, "joined_event": "status", "event": "notification"}
    return Target("pulseboard", server, options, trigger)


def start_bare(workdir: Path) -> Target:
    workdir.mkdir(parents=True, exist_ok=True)
    server = spawn([sys.executable, "-m", "bench.bare_socketio_app", "{port}"], workdir, dict(os.environ))
    http = requests.Session()

    def trigger(mark: int, sent_at: float) -> None:
        http.post(server.url + "/emit", json={"room": "bench", "event": "notification",
                                              "title": f"bench {mark} {sent_at:.6f}"}, timeout=30).raise_for_status()

    options = {"url": server.url, "namespace": "/bench", "join": '["join",{"room":"bench"}]', "room": "bench",
               "joined_event": "joined", "event": "notification"}
    return Target("bare", server, options, trigger)


def split(total: int, per_process: int) -> list[int]:
    processes = max(1, math.ceil(total / per_process))
    return [total // processes + (1 if index < total % processes else 0) for index in range(processes)]


class Trial:
    """One target with its clients connected: broadcasts are timed by the caller, accounted here."""

    def __init__(self, target: Target, clients: int, broadcasts: int, workdir: Path, per_process: int) -> None:
        self.target, self.clients = target, clients
        self.server = psutil.Process(target.server.process.pid)
        self.timeout = 3 + clients / 1000
        budget = 90 + clients / 40 + 2 * (broadcasts + WARMUPS) * (self.timeout + 1) + 30
        self.rss_idle = self.server.memory_info().rss
        self.fleet = Fleet(split(clients, per_process), workdir, budget, concurrency=48, **target.clients)
        self.sent, self.timeouts, self.result = {}, [], {"clients": clients}
        self.busy, self.idle_rate = 0.0, 0.0

    def connect(self) -> bool:
        connect = self.fleet.wait_connected(timeout=60 + self.clients / 50)
        self.result["connect"] = connect
        progress(f"fanout {self.target.name} N={self.clients}: {connect['connected']} connected in "
                 f"{connect['connect_s']} s")
        if connect["connected"] == 0:
            self.result["error"] = f"no client connected: {connect['errors']}"
            return False
        return True

    def weigh(self) -> None:
        rss = self.server.memory_info().rss
        self.result.update(rss_idle_mb=rounded(self.rss_idle / 2**20, 1), rss_connected_mb=rounded(rss / 2**20, 1),
                           kb_per_connection=rounded((rss - self.rss_idle) / 1024 / self.result["connect"]["connected"], 1))

    def broadcast(self, mark: int) -> None:
        """Trigger one push and wait until every client has it (or the timeout); count its server CPU."""
        before = cpu_seconds(self.server)
        sent = time.time()
        self.target.trigger(mark, sent)
        if not self.fleet.wait_complete(mark, self.timeout) and mark >= 0:
            self.timeouts.append(mark)
        time.sleep(0.05)  # the last writes of this broadcast, still inside its CPU window
        if mark >= 0:
            self.sent[mark] = sent
            self.busy += cpu_seconds(self.server) - before - self.idle_rate * (time.time() - sent)

    def finish(self) -> dict:
        outputs = self.fleet.finish()
        result = self.result
        result.update(deliveries(outputs, self.sent))
        result["broadcasts_timed_out"] = self.timeouts
        opens = (result.get("connect") or {}).get("opens")
        if opens and self.sent:
            first = min(pair[0] for pair in opens)
            result["sent_s_after_first_open"] = [round(self.sent[mark] - first, 2) for mark in sorted(self.sent)]
        result["client_cpu_s"] = [output.get("client_cpu_s") for output in outputs]
        if self.sent:
            result["server_cpu_ms_per_broadcast"] = rounded(max(0.0, self.busy) / len(self.sent) * 1e3, 2)
            result["server_cpu_us_per_client"] = rounded(max(0.0, self.busy) / len(self.sent) / self.clients * 1e6, 1)
        if "per_client" in result:
            progress(f"fanout {self.target.name} N={self.clients}: p50 {result['per_client']['p50_ms']} ms, "
                     f"p99 {result['per_client']['p99_ms']} ms, last-client median {result['last_client']['median_ms']}"
                     f" ms, lost {result['lost']}, CPU/broadcast {result.get('server_cpu_ms_per_broadcast')} ms, "
                     f"{result.get('kb_per_connection')} KB/conn")
        return result


def measure_idle(trials: list, idle_seconds: float) -> None:
    """Each server's memory with its clients connected, and the CPU it burns with nothing to send."""
    time.sleep(1.0)
    before = [cpu_seconds(trial.server) for trial in trials]
    started = time.perf_counter()
    time.sleep(idle_seconds)
    for trial, cpu in zip(trials, before, strict=True):
        trial.weigh()
        trial.idle_rate = (cpu_seconds(trial.server) - cpu) / (time.perf_counter() - started)
        trial.result["server_idle_cpu_cores"] = rounded(trial.idle_rate)


def compare(targets: list[Target], clients: int, broadcasts: int, workdir: Path, idle_seconds: float = 2.0,
            check_health: bool = False, per_process: int = CLIENTS_PER_PROCESS) -> list[dict]:
    """Connect `clients` to each target in turn, then interleave their broadcasts (same minutes, same noise)."""
    time.sleep(0.5)
    trials = []
    try:
        for target in targets:
            trial = Trial(target, clients, broadcasts, workdir, per_process)
            trials.append(trial)
            if not trial.connect():
                return [trial.finish() for trial in trials]
        measure_idle(trials, idle_seconds)
        rounds, deferred, lookahead = ping_rounds(trials), [], 0.3
        for mark in range(-WARMUPS, broadcasts):
            for trial in (trials if mark % 2 == 0 else trials[::-1]):
                waited = clear_of_ping_rounds(rounds, lookahead)
                if waited:
                    deferred.append(round(waited, 2))
                started = time.perf_counter()
                trial.broadcast(mark)
                lookahead = max(lookahead, time.perf_counter() - started + 0.1)
                time.sleep(random.uniform(0.1, 0.25))  # spaced apart, out of phase with the 1 s background jobs
        for trial in trials:
            trial.result["deferred_for_ping_rounds_s"] = deferred
            if check_health:
                trial.result["healthz"] = health(trial.target.server.url)
    except Exception as error:  # a failed size must not hide the others
        progress(f"fanout N={clients}: {error!r}")
        for trial in trials:
            trial.result["error"] = repr(error)
    return [trial.finish() for trial in trials]


def ping_rounds(trials: list[Trial]) -> list[tuple[float, float, float]]:
    """(first open, last open, ping interval) of each target whose clients all opened within PING_BURST_SPREAD.

    Engine.IO pings every client every pingInterval from its own open, so clients connected in one burst
    are pinged in one burst (and answer at once) every 25 s: 1,000 pings and pongs landing on a broadcast
    make it several times slower. Real clients do not connect in lockstep; the benchmark does, so it times
    its broadcasts between those rounds (and says how long it waited for them).
    """
    rounds = []
    for trial in trials:
        connect = trial.result.get("connect") or {}
        opens, interval = connect.get("opens"), connect.get("ping_interval_s")
        if opens and interval:
            first, last = min(pair[0] for pair in opens), max(pair[1] for pair in opens)
            if last - first <= PING_BURST_SPREAD:
                rounds.append((first, last, interval))
    return rounds


def clear_of_ping_rounds(rounds: list[tuple[float, float, float]], lookahead: float) -> float:
    """Sleep while a broadcast starting now and lasting `lookahead` would meet a round of pings; return the wait."""
    waited = 0.0
    while True:
        now, until = time.time(), None
        for first, last, interval in rounds:
            current = max(1, math.floor((now - first) / interval))
            for number in (current, current + 1):
                start, stop = first + number * interval - 0.25, last + number * interval + 0.5
                if now < stop and now + lookahead > start:
                    until = max(until or 0.0, stop)
        if until is None:
            return waited
        time.sleep(until - now)
        waited += until - now


def measure(target: Target, clients: int, broadcasts: int, workdir: Path, **options) -> dict:
    return compare([target], clients, broadcasts, workdir, **options)[0]


def health(url: str) -> dict:
    started = time.perf_counter()
    try:
        status = requests.get(url + "/healthz", timeout=10).status_code
    except requests.RequestException as error:
        return {"ok": False, "error": repr(error)}
    return {"ok": status == 200, "status": status, "ms": rounded((time.perf_counter() - started) * 1e3)}


def deliveries(outputs: list[dict], sent: dict[int, float]) -> dict:
    """Per-client latency from the send, the last client of each broadcast, and lost or duplicate pushes."""
    first, received, server_ts = {}, 0, {}
    for output in outputs:
        server_ts.update({int(k): ts for k, ts in output.get("server_ts", {}).items()})
        for client, mark, arrival in output["arrivals"]:
            if mark < 0:
                continue
            received += 1
            first.setdefault((client, mark), arrival)
    joined = sum(output.get("joined", 0) for output in outputs)
    if not sent:
        return {"joined": joined, "lost": None}
    per_client = [arrival - sent[mark] for (_, mark), arrival in first.items() if mark in sent]
    from_ts = [arrival - server_ts[mark] for (_, mark), arrival in first.items() if server_ts.get(mark)]
    last, from_send, from_emit = {}, {}, {}
    for (_, mark), arrival in first.items():
        last[mark] = max(last.get(mark, 0.0), arrival - sent[mark])
        from_send.setdefault(mark, []).append((arrival - sent[mark]) * 1e3)
        if server_ts.get(mark):
            from_emit.setdefault(mark, []).append((arrival - server_ts[mark]) * 1e3)
    return {"joined": joined, "expected": joined * len(sent), "received_unique": len(first),
            "lost": joined * len(sent) - len(first), "duplicates": received - len(first),
            "lost_connections": sum(output.get("lost_connections", 0) for output in outputs),
            "per_client": latency_summary(per_client), "per_client_from_server_ts": latency_summary(from_ts),
            "p99_median_of_broadcasts_ms": median_p99(from_send),
            "p99_from_emit_median_of_broadcasts_ms": median_p99(from_emit),
            "last_client": {**latency_summary(list(last.values())),
                            "median_ms": rounded(median([v * 1e3 for v in last.values()])),
                            "by_broadcast_ms": [rounded(last[mark] * 1e3, 1) for mark in sorted(last)]}}


def median_p99(delays_by_broadcast: dict[int, list[float]]) -> float | None:
    """The median over broadcasts of each one's p99. One hiccup of the machine makes one broadcast slow for
    every client, which alone is more than 1% of all receipts; this is the typical p99 despite it."""
    return rounded(median([percentile(delays, 99) for delays in delays_by_broadcast.values()]))


def hold(workdir: Path, clients: int) -> dict:
    """One Pulseboard process holding `clients` connections from two client processes."""
    progress(f"fanout hold: {clients} connections")
    target = start_ours(workdir / "hold")
    try:
        return measure(target, clients, 3, workdir, check_health=True, per_process=math.ceil(clients / 2))
    finally:
        target.stop()


def run(quick: bool = False) -> dict:
    plan = QUICK if quick else FULL
    results = {"plan": {**plan, "warmups": WARMUPS}, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        workdir = Path(tmp)
        for clients in plan["sizes"]:
            targets = []
            try:
                targets.append(start_bare(workdir / f"bare-{clients}"))
                targets.append(start_ours(workdir / f"pulseboard-{clients}"))
                bare, ours = compare(targets, clients, plan["broadcasts"], workdir)
            finally:
                for target in targets:
                    target.stop()
            results["sizes"][clients] = {"bare": bare, "pulseboard": ours}
        if plan["hold"]:
            results["hold"] = hold(workdir, plan["hold"])
    results["figures"] = figures(results)
    return results


def lost(result: dict) -> int | None:
    return None if result.get("lost") is None else result["lost"] + result.get("duplicates", 0)


def p99(result: dict) -> float | None:
    return (result.get("per_client") or {}).get("p99_ms")


def typical_p99(result: dict) -> float | None:
    return result.get("p99_median_of_broadcasts_ms")


def emit_p99(result: dict) -> float | None:
    return result.get("p99_from_emit_median_of_broadcasts_ms")


def figures(results: dict) -> list[dict]:
    rows = []
    for clients, pair in results["sizes"].items():
        ours, bare = pair["pulseboard"], pair["bare"]
        at_1000 = clients == 1_000
        ratio = typical_p99(ours) / typical_p99(bare) if typical_p99(ours) and typical_p99(bare) else None
        emit_ratio = emit_p99(ours) / emit_p99(bare) if emit_p99(ours) and emit_p99(bare) else None
        rows += [
            figure(f"fanout N={clients}: per-client p99", p99(ours), "ms", GOALS["p99_ms_1000"] if at_1000 else None,
                   higher_is_better=False),
            figure(f"fanout N={clients}: per-client p50", (ours.get("per_client") or {}).get("p50_ms"), "ms"),
            figure(f"fanout N={clients}: last-client p99", (ours.get("last_client") or {}).get("p99_ms"), "ms"),
            figure(f"fanout N={clients}: bare stack per-client p99", p99(bare), "ms"),
            figure(f"fanout N={clients}: per-broadcast p99 from the API call, median of broadcasts", typical_p99(ours),
                   "ms"),
            figure(f"fanout N={clients}: bare stack, the same", typical_p99(bare), "ms"),
            figure(f"fanout N={clients}: that median ÷ bare", ratio, "×"),
            figure(f"fanout N={clients}: per-broadcast p99 from the emit (payload ts), median", emit_p99(ours), "ms"),
            figure(f"fanout N={clients}: bare stack, the same", emit_p99(bare), "ms"),
            figure(f"fanout N={clients}: that median ÷ bare", emit_ratio, "×",
                   GOALS["ratio_1000"] if at_1000 else None, higher_is_better=False),
            figure(f"fanout N={clients}: messages lost or duplicated", lost(ours), "msgs", 0, higher_is_better=False),
            figure(f"fanout N={clients}: connect all", (ours.get("connect") or {}).get("connect_s"), "s"),
            figure(f"fanout N={clients}: server CPU per broadcast", ours.get("server_cpu_ms_per_broadcast"), "ms"),
            figure(f"fanout N={clients}: bare CPU per broadcast", bare.get("server_cpu_ms_per_broadcast"), "ms"),
            figure(f"fanout N={clients}: memory per connection", ours.get("kb_per_connection"), "KB",
                   GOALS["kb_per_connection"], higher_is_better=False),
            figure(f"fanout N={clients}: bare memory per connection", bare.get("kb_per_connection"), "KB"),
        ]
    held = results.get("hold")
    if held:
        connected = (held.get("connect") or {}).get("connected")
        rows += [figure("fanout hold: connections held by one process", connected, "conns", GOALS["hold"]),
                 figure("fanout hold: time to connect all", (held.get("connect") or {}).get("connect_s"), "s"),
                 figure("fanout hold: /healthz answers while held (1 = yes)",
                        1 if (held.get("healthz") or {}).get("ok") else 0, "", 1),
                 figure("fanout hold: /healthz time while held", (held.get("healthz") or {}).get("ms"), "ms"),
                 figure("fanout hold: messages lost or duplicated", lost(held), "msgs", 0, higher_is_better=False),
                 figure("fanout hold: last-client p99", (held.get("last_client") or {}).get("p99_ms"), "ms"),
                 figure("fanout hold: memory per connection", held.get("kb_per_connection"), "KB",
                        GOALS["kb_per_connection"], higher_is_better=False)]
    return rows
