"""Alerts: the evaluation pass over 1,000 rules in-process on SQLite and PostgreSQL, with where its time goes;
and condition → `alert` event at a Socket.IO client on a real server (1 s interval), idle and while another
process ingests 10,000 metric points a minute, with the evaluation job's own time from /admin/api/health.

    python -m bench.alerts --load URL KEY SECONDS   # the background sender alone
"""
import argparse
import cProfile
import json
import pstats
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench import ingest_to_screen
from bench.alert_traffic import ENDPOINTS, METRIC_NAMES, Traffic, rule_bodies
from bench.common import ROOT, figure, latency_summary, median, percentile, progress, rounded
from bench.ingest import create_api_key, postgres_database
from config import Config
from database import SERVER_DATABASE_TIMEOUT, Alert, Base, create_database_engine, utcnow
from services.alerts import evaluator, rules
from services.runtime.process import build_runtime
from tests.e2e.realtime_clients import SocketClient
from tests.servers import LIVE_ADMIN, die_with_parent, login_session, start_server

PASS_GOAL_MS = 100
INTERVAL = 1.0  # ALERT_EVALUATION_INTERVAL of the server
SLICES = Config.ALERT_EVALUATION_SLICES  # the server's too: every rule once per interval, in this many passes
LATENCY_GOAL_MS = INTERVAL * 1000 + 50
HISTORY_MINUTES = 10
# The sender of the load phase: 50 points every 0.3 s, 10,000 a minute (bench.ingest_to_screen.load's loop).
LOAD_BATCH, LOAD_INTERVAL = 50, 0.3
LOAD_NAMES = [f"bench.load.{index}" for index in range(10)]  # what that sender posts, host web-0..3
SPLIT = {  # (file, function) of the pass whose cumulative time the profile reports
    "series reads (all)": ("services/alerts/series.py", "evaluate"),
    "custom metric reads (_read_metric)": ("services/alerts/series.py", "_read_metric"),
    "  metric history refresh (fingerprints, moved buckets)": ("services/alerts/metric_history.py", "refresh"),
    "  metric history folds per window": ("services/alerts/metric_history.py", "series"),
    "  custom metric aggregation": ("services/analytics/metric_queries.py", "aggregate"),
    "host reads": ("services/alerts/series.py", "_read_host"),
    "endpoint reads": ("services/alerts/series.py", "_read_endpoint"),
    "business reads": ("services/alerts/series.py", "_read_business"),
    "evaluate_all (the pass before its commit)": ("services/alerts/evaluator.py", "evaluate_all"),
    "read_rule (series + labels)": ("services/alerts/evaluator.py", "read_rule"),
    "lifecycle.advance": ("services/alerts/lifecycle.py", "advance"),
    "_refresh (annotations, message)": ("services/alerts/evaluator.py", "_refresh"),
    "update_flapping": ("services/alerts/evaluator.py", "update_flapping"),
    "owed_resolved": ("services/alerts/evaluator.py", "owed_resolved"),
    "notify": ("services/alerts/evaluator.py", "notify"),
    "silences.active": ("services/alerts/silences.py", "active"),
    "session.commit": ("sqlalchemy/orm/session.py", "commit"),
}


def run(quick: bool = False) -> dict:
    sizes = {"rules": 200 if quick else 1000, "points_per_minute": 2000 if quick else 10_000,
             "passes": 4 if quick else 8, "samples": 6 if quick else 20}
    results = {"sizes": sizes, "interval_s": INTERVAL, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        results["backends"]["sqlite"] = guarded(measure_pass, f"sqlite:///{tmp}/alerts.db", sizes)
        with postgres_database() as url:
            results["backends"]["postgresql"] = guarded(measure_pass, url, sizes)
        results["server"] = guarded(measure_latency, Path(tmp) / "server", sizes)
    results["figures"] = figures(results)
    return results


def guarded(measure, *args) -> dict:
    try:
        return measure(*args)
    except Exception as error:  # noqa: BLE001 - one part failing should not hide the others' numbers
        progress(f"alerts: {measure.__name__} failed: {error!r}")
        return {"error": repr(error)}


# -- the pass, in-process -----------------------------------------------------------------------------------------

def measure_pass(url: str, sizes: dict) -> dict:
    backend = url.split(":")[0].split("+")[0]
    engine = create_database_engine(url, timeout=SERVER_DATABASE_TIMEOUT)  # as the server's
    try:
        Base.metadata.create_all(engine)
        settings = {name: getattr(Config, name) for name in dir(Config) if name.isupper()}
        runtime = build_runtime(settings)
        started = time.perf_counter()
        with Session(engine) as feed:
            traffic = Traffic(runtime, sizes["points_per_minute"], utcnow() - timedelta(minutes=HISTORY_MINUTES))
            traffic.store_until(feed, utcnow())
            for body in rule_bodies(sizes["rules"], METRIC_NAMES, ENDPOINTS):
                rules.create_rule(feed, rules.read_fields(body, partial=False), "bench")
            feed.commit()
            progress(f"alerts {backend}: {HISTORY_MINUTES} min of history and {sizes['rules']} rules stored in "
                     f"{time.perf_counter() - started:.1f} s")
            loop = evaluator.Evaluator(runtime, evaluator.Settings.of(settings), slices=SLICES)
            passes = [one_pass(engine, loop, traffic, feed) for _ in range(sizes["passes"] + 1)]
            profile = cProfile.Profile()
            profiled, _ = one_pass(engine, loop, traffic, feed, profile)
    finally:
        engine.dispose()
    (cold, first), warm = passes[0], passes[1:]  # the first round creates the firing instances
    times = [ms for ms, _ in warm]
    result = {"slices": SLICES, "cold_pass_ms": rounded(cold), "warm_pass_ms": [rounded(ms) for ms in times],
              "median_ms": rounded(median(times)), "p90_ms": rounded(percentile(times, 90)), "min_ms": rounded(min(times)),
              "median_slowest_slice_ms": rounded(median([outcome.slowest_ms for _, outcome in warm])),
              # this process's CPU only (not PostgreSQL's): less moved by other work on the machine than wall time
              "median_cpu_ms": rounded(median([outcome.cpu_ms for _, outcome in warm])),
              "rules": first.rules, "firing_rules": first.firing_rules, "firing_instances": first.firing,
              "state_changes_in_warm_passes": dict(sum((outcome.changes for _, outcome in warm), Counter())),
              "profile": split(profile, profiled)}
    progress(f"alerts {backend}: {result['median_ms']} ms median round of {SLICES} slices, {first.firing_rules} rules firing")
    return result


class Outcome:
    def __init__(self, reports: list[evaluator.PassReport], firing: list, cpu_ms: float, slowest_ms: float) -> None:
        self.rules, self.cpu_ms, self.slowest_ms = sum(report.rules for report in reports), cpu_ms, slowest_ms
        self.changes = Counter(f"{previous}→{instance.state}" for report in reports for instance, previous in report.changes)
        self.firing, self.firing_rules = len(firing), len({rule_id for rule_id, _ in firing})


def one_pass(engine, loop: evaluator.Evaluator, traffic: Traffic, feed: Session,
             profile: cProfile.Profile | None = None) -> tuple[float, Outcome]:
    """Store the traffic since the last round (untimed), then one round: every slice's pass, each in a session of
    its own as the job runner gives each run; (wall ms of the round, what it did)."""
    traffic.store_until(feed, utcnow())
    reports, slices_ms, cpu_ms = [], [], 0.0
    for _ in range(loop.slices):
        with Session(engine, expire_on_commit=False) as session:
            if profile:
                profile.enable()
            started, cpu = time.perf_counter(), time.process_time()
            reports.append(loop.run(session))
            slices_ms.append((time.perf_counter() - started) * 1e3)
            cpu_ms += (time.process_time() - cpu) * 1e3
            if profile:
                profile.disable()
    with Session(engine) as session:
        firing = session.execute(select(Alert.rule_id, Alert.fingerprint).where(Alert.state == "firing")).all()
    return sum(slices_ms), Outcome(reports, firing, cpu_ms, max(slices_ms))


def split(profile: cProfile.Profile, total_ms: float) -> dict:
    """Cumulative ms of the pass's parts (cProfile's, so inflated; the shares are what to read) and the top
    functions by own time."""
    stats = pstats.Stats(profile).stats
    whole = max((row[3] for (path, _, name), row in stats.items()
                 if path.endswith("services/alerts/evaluator.py") and name == "run"), default=0.0) * 1e3
    parts = {}
    for label, (suffix, function) in SPLIT.items():
        found = [row for (path, _, name), row in stats.items() if path.endswith(suffix) and name == function]
        ms = sum(row[3] for row in found) * 1e3
        parts[label] = {"ms": rounded(ms, 1), "share": rounded(ms / whole, 3) if whole else None,
                        "calls": sum(row[1] for row in found)}
    series_ms = parts["series reads (all)"]["ms"]
    own = sorted(stats.items(), key=lambda item: -item[1][2])[:15]
    return {"profiled_pass_ms": rounded(whole, 1), "timed_pass_ms": rounded(total_ms, 1),
            "series_reads_ms": series_ms, "rest_ms": rounded(whole - series_ms, 1), "parts": parts,
            "top_own_time": [{"function": f"{Path(path).name}:{line} {name}", "own_ms": rounded(row[2] * 1e3, 1),
                              "calls": row[1]} for (path, line, name), row in own]}


# -- condition → alert event, on a real server ----------------------------------------------------------------------

class AlertClient(SocketClient):
    """A Socket.IO client in room `alerts` that notes when each (rule name, state) first arrives."""

    def __init__(self, server, session: requests.Session) -> None:
        self.firsts: dict[tuple, float] = {}
        super().__init__(server, session)
        self.emit("join_room", {"room": "alerts"})
        self.wait_for(lambda events: any(name == "status" and "alerts" in (data or {}).get("rooms", ())
                                         for name, data in events))

    def record(self, event, data=None) -> None:
        if event == "alert" and isinstance(data, dict):
            now = time.monotonic()
            for item in data.get("items") or ():
                self.firsts.setdefault((item.get("rule_name"), item.get("state")), now)
        super().record(event, data)

    def arrival(self, key: tuple, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while key not in self.firsts:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.arrived.wait(remaining)
            return self.firsts[key]


class JobWatcher:
    """Polls GET /admin/api/health for the alert_evaluation job's last run: a sample of the runs' ms (each kept
    once), and how many ran (the job's count)."""

    def __init__(self, server) -> None:
        self.http, self.url = login_session(server), server.url + "/admin/api/health"
        self.runs: dict[str, dict] = {}
        self.since, self.count_since = time.monotonic(), None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self) -> None:
        while not self.stopped.wait(INTERVAL / 5):
            try:
                jobs = self.http.get(self.url, timeout=5).json()["components"]["background_jobs"]["runs"]
            except (requests.RequestException, ValueError, KeyError):
                continue
            if "alert_evaluation" in jobs:
                self.runs.setdefault(jobs["alert_evaluation"]["at"], jobs["alert_evaluation"])

    def take(self) -> dict:
        """The runs since the last take: how many per interval, and the ms of those seen."""
        runs, self.runs = sorted(self.runs.values(), key=lambda run: run["count"]), {}
        seconds, self.since = time.monotonic() - self.since, time.monotonic()
        ms = [run["ms"] for run in runs if run.get("ok")]
        count = runs[-1]["count"] if runs else self.count_since
        ran = None if count is None or self.count_since is None else count - self.count_since
        self.count_since = count
        return {"seconds": round(seconds, 1), "runs_seen": len(runs), "failed": len(runs) - len(ms), "runs": ran,
                "rounds_per_interval": None if ran is None else rounded(ran / SLICES * INTERVAL / seconds),
                "median_ms": rounded(median(ms)),
                "p99_ms": rounded(percentile(ms, 99)), "max_ms": max(ms, default=None)}

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        self.http.close()


def measure_latency(workdir: Path, sizes: dict) -> dict:
    workdir.mkdir(parents=True)
    server = start_server(workdir, ADMIN_USERNAME=LIVE_ADMIN[0], ADMIN_PASSWORD=LIVE_ADMIN[1], ALERT_DEFAULT_RULES="0",
                          ALERT_EVALUATION_INTERVAL=str(INTERVAL), INGEST_RATE_LIMIT="1000000 per second")
    results = {"background_rules": sizes["rules"], "samples_per_phase": sizes["samples"]}
    admin = client = watcher = loader = None
    ingest_http = requests.Session()
    try:
        key = create_api_key(server.env)
        ingest_http.headers.update({"Authorization": f"Bearer {key}"})
        admin = login_session(server)
        client, watcher = AlertClient(server, admin), JobWatcher(server)
        add_background_rules(server.env["DATABASE_URL"], sizes["rules"])
        sample = lambda phase: sample_latency(server.url, admin, ingest_http, client, phase, sizes["samples"])  # noqa: E731
        time.sleep(2 * INTERVAL)  # the rules evaluated once
        watcher.take()
        results["idle"] = sample("idle") | {"job": watcher.take()}
        progress(f"alerts server idle: {results['idle']}")
        loader = subprocess.Popen([sys.executable, "-m", "bench.alerts", "--load", server.url + "/api/v1/events", key,
                                   str(sizes["samples"] * 2.5 * INTERVAL + 20)],
                                  cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        time.sleep(2 + 2 * INTERVAL)  # the sender at its rate, and the rules on its metrics evaluated once
        watcher.take()
        results["load"] = sample("load") | {"job": watcher.take()}
        progress(f"alerts server under load: {results['load']}")
    except Exception as error:
        progress(f"alerts server: {error!r}\n{server.output()[-1500:]}")
        raise
    finally:
        results["load_sender"] = stop_loader(loader)
        if watcher is not None:
            watcher.stop()
        for session in (client, admin, ingest_http):
            if session is not None:
                session.close()
        server.stop()
    return results


def add_background_rules(database_url: str, count: int) -> None:
    """The same mix of rules as the in-process pass, on the metric names the load sender posts (no data while
    idle: those windows count as normal, not `nodata`), written straight to the server's database."""
    engine = create_database_engine(database_url)
    try:
        with Session(engine) as session:
            for body in rule_bodies(count, LOAD_NAMES, ["/api/v1/events", "/admin/api/health"]):
                rules.create_rule(session, rules.read_fields(body | {"nodata_state": "ok"}, partial=False), "bench")
            session.commit()
    finally:
        engine.dispose()


def sample_latency(url: str, admin: requests.Session, http: requests.Session, client: AlertClient, phase: str,
                   count: int) -> dict:
    """`count` samples, one at a time; a phase stops at its deadline, so a server that stalls cannot hold the run."""
    delays, failures = [], Counter()
    started = time.monotonic()
    deadline = started + count * (2 * INTERVAL + 0.5)
    attempted = 0
    while attempted < count and time.monotonic() < deadline:
        outcome = one_sample(url, admin, http, client, f"bench {phase} {attempted}", f"bench.alert.{phase}.{attempted}")
        attempted += 1
        if isinstance(outcome, str):
            failures[outcome] += 1
        else:
            delays.append(outcome)
    return {"latency": latency_summary(delays), "attempted": attempted, "lost": attempted - len(delays),
            "failures": dict(failures), "seconds": round(time.monotonic() - started, 1)}


def one_sample(url: str, admin: requests.Session, http: requests.Session, client: AlertClient, name: str,
               metric: str) -> float | str:
    """A rule of its own (max over a minute would not clear at once), a breaching value pushed at a random moment
    of the interval: seconds from the 202 to its `alert` firing, or why there was none. The rule is deleted after."""
    created = admin.post(url + "/admin/api/alert-rules", timeout=30, json={
        "name": name, "source": "metric", "metric": metric, "aggregation": "max", "window_seconds": 60,
        "comparator": ">", "threshold": 100, "for_seconds": 0, "nodata_state": "ok"})
    if created.status_code != 201:
        return f"rule create answered {created.status_code}"
    try:
        time.sleep(random.uniform(0, INTERVAL))  # not in step with the evaluation loop
        response = http.post(url + "/api/v1/events", json={"metrics": [{"name": metric, "value": 150}]}, timeout=30)
        accepted = time.monotonic()
        if response.status_code != 202:
            return f"ingest answered {response.status_code}"
        arrival = client.arrival((name, "firing"), timeout=3 * INTERVAL + 2)
        return "no alert event in time" if arrival is None else arrival - accepted
    finally:
        admin.delete(f"{url}/admin/api/alert-rules/{created.json()['rule']['id']}", timeout=30)  # a refusal is not ours to fix


def stop_loader(loader) -> dict | None:
    if loader is None:
        return None
    loader.terminate()  # it prints its totals on SIGTERM, and stops by itself anyway
    try:
        out, _ = loader.communicate(timeout=15)
        return json.loads(out.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        loader.kill()
        loader.wait(timeout=10)
        return None


def figures(results: dict) -> list[dict]:
    rows = []
    for backend, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        measured = results["backends"].get(backend) or {}
        title = f"alert evaluation, {results['sizes']['rules']:,} rules, {label}"
        rows += [figure(f"{title}: median per interval (all {SLICES} slices)", measured.get("median_ms"), "ms", PASS_GOAL_MS,
                        higher_is_better=False),
                 figure(f"{title}: p90 per interval", measured.get("p90_ms"), "ms"),
                 figure(f"{title}: median of the slowest slice", measured.get("median_slowest_slice_ms"), "ms")]
    server = results.get("server") or {}
    for phase, label in (("idle", "idle"), ("load", "under 10,000 points/min")):
        rows += latency_figures(f"condition → alert event {label}, {INTERVAL:g} s interval", server.get(phase) or {})
    job = (server.get("load") or {}).get("job") or {}
    title = f"alert_evaluation job under load, {server.get('background_rules', results['sizes']['rules']):,} rules"
    rows += [figure(f"{title}: median per slice", job.get("median_ms"), "ms"),
             figure(f"{title}: max per slice", job.get("max_ms"), "ms", INTERVAL * 1000 / SLICES, higher_is_better=False),
             # From the job's run count: under 1 is a loop that slips or stalls.
             figure(f"{title}: rounds of every slice per interval", job.get("rounds_per_interval"), "rounds", 0.95),
             figure("alerts: background ingest achieved", sender_rate(server.get("load_sender")), "points/min")]
    return rows


def sender_rate(sender: dict | None) -> float | None:
    return None if not sender else sender["items_per_s"] * 60


def latency_figures(title: str, phase: dict) -> list[dict]:
    latency = phase.get("latency") or {}
    return [figure(f"{title}: p50", latency.get("p50_ms"), "ms"),
            figure(f"{title}: p99", latency.get("p99_ms"), "ms", LATENCY_GOAL_MS, higher_is_better=False),
            figure(f"{title}: max", latency.get("max_ms"), "ms"),
            figure(f"{title}: samples without one (of {phase.get('attempted', 0)})", phase.get("lost"), "samples", 0,
                   higher_is_better=False)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", nargs=3, metavar=("URL", "KEY", "SECONDS"), required=True)
    arguments = parser.parse_args()
    ingest_to_screen.LOAD_BATCH, ingest_to_screen.LOAD_INTERVAL = LOAD_BATCH, LOAD_INTERVAL
    ingest_to_screen.load(arguments.load[0], arguments.load[1], float(arguments.load[2]))
