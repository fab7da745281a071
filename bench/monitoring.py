"""Monitoring overhead: req/s of a small JSON app, plain vs our monitor vs Flask-MonitoringDashboard, same run."""
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import requests

from bench.common import ROOT, figure, median, progress, rounded
from tests.servers import free_port, stop_process

VARIANTS = ("plain", "ours", "fmd")
GOAL_RATIO = 0.95
CONNECTIONS = 10
PATH = "/ping"


def run(quick: bool = False) -> dict:
    """Alternate the three apps round by round; each round's ratios come from back-to-back loads."""
    rounds, seconds = (2, 2.0) if quick else (6, 4.0)
    loader = "wrk" if shutil.which("wrk") else "python-threads"
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as workdir:
        servers = {variant: start(variant, workdir) for variant in VARIANTS}
        try:
            for server in servers.values():
                load(loader, server.url, 1.0)  # warm-up: imports, FMD's first-request setup, connection pools
            measured = [measure_round(loader, servers, index, seconds) for index in range(rounds)]
        finally:
            for server in servers.values():
                stop(server)
    return summarize(measured, loader, rounds, seconds)


def measure_round(loader: str, servers: dict, index: int, seconds: float) -> dict:
    # Rotate the order each round, so a drift in the machine's speed does not favour one variant.
    order = VARIANTS[index % 3:] + VARIANTS[:index % 3]
    result = {variant: load(loader, servers[variant].url, seconds) for variant in order}
    progress("monitoring round {}: ".format(index) + ", ".join(
        f"{variant} {result[variant]['rps']:,.0f} req/s" for variant in VARIANTS))
    return result


def summarize(measured: list[dict], loader: str, rounds: int, seconds: float) -> dict:
    ratios = {variant: [m[variant]["rps"] / m["plain"]["rps"] for m in measured] for variant in ("ours", "fmd")}
    per_variant = {variant: {"rps": rounded(median([m[variant]["rps"] for m in measured]), 0),
                             "p50_ms": rounded(median([m[variant]["p50_ms"] for m in measured])),
                             "p99_ms": rounded(median([m[variant]["p99_ms"] for m in measured]))}
                   for variant in VARIANTS}
    ours, fmd = median(ratios["ours"]), median(ratios["fmd"])
    return {"loader": f"{loader}, {CONNECTIONS} keep-alive connections", "rounds": rounds, "seconds_per_load": seconds,
            "ratio_ours": rounded(ours), "ratio_fmd": rounded(fmd),
            "ratios_per_round": {key: [rounded(value) for value in values] for key, values in ratios.items()},
            "variants": per_variant, "rounds_detail": measured,
            "figures": [figure("monitoring: our monitor req/s ÷ plain (median of rounds)", ours, "ratio", GOAL_RATIO),
                        figure("monitoring: Flask-MonitoringDashboard req/s ÷ plain", fmd, "ratio"),
                        figure("monitoring: plain small JSON", per_variant["plain"]["rps"], "req/s"),
                        *[figure(f"monitoring: {variant} {key.removesuffix('_ms')}", per_variant[variant][key], "ms")
                          for variant in VARIANTS for key in ("p50_ms", "p99_ms")]]}


class AppServer:
    def __init__(self, variant: str, port: int, process: subprocess.Popen) -> None:
        self.variant, self.url, self.process = variant, f"http://127.0.0.1:{port}{PATH}", process


def start(variant: str, workdir: str) -> AppServer:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.monitor_app", variant, str(port), workdir], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = AppServer(variant, port, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(server.url, timeout=1).status_code == 200:
                return server
        except requests.ConnectionError:
            time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"the {variant} app did not start")


def stop(server: AppServer) -> None:
    stop_process(server.process)


def load(loader: str, url: str, seconds: float) -> dict:
    return wrk(url, seconds) if loader == "wrk" else python_load(url, seconds)


def wrk(url: str, seconds: float) -> dict:
    # wrk only takes whole seconds; a longer run than asked is harmless.
    done = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", url],
                          capture_output=True, text=True, timeout=seconds + 30, check=True)
    out = done.stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": wrk_ms(out, "50%"), "p99_ms": wrk_ms(out, "99%")}


def wrk_ms(out: str, label: str) -> float:
    value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def python_load(url: str, seconds: float) -> dict:
    """Without wrk: keep-alive http.client threads (the GIL caps this loader near the server's rate)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    latencies, deadline = [], time.perf_counter() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            connection.request("GET", PATH)
            connection.getresponse().read()
            latencies.append(time.perf_counter() - sent)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {"rps": len(ordered) / (time.perf_counter() - started), "p50_ms": ordered[len(ordered) // 2] * 1e3,
            "p99_ms": ordered[int(len(ordered) * 0.99)] * 1e3}
