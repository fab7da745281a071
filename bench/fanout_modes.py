"""SOCKETIO_ASYNC_MODE compared: the fan-out to 1,000 clients with Pulseboard under eventlet, gevent and threading.

Each is `python app.py` with that one setting; app.py monkey-patches for eventlet and gevent.
"""
import tempfile
from pathlib import Path

from bench.common import figure, progress
from bench.fanout import lost, measure, start_ours

CLIENTS = 1_000
MODES = ("eventlet", "gevent", "threading")


def run(quick: bool = False) -> dict:
    broadcasts = 5 if quick else 20
    results = {"clients": CLIENTS, "broadcasts": broadcasts, "modes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-modes-") as tmp:
        for mode in MODES:
            workdir = Path(tmp) / mode
            progress(f"fanout_modes: {mode}")
            try:
                target = start_ours(workdir, SOCKETIO_ASYNC_MODE=mode)
            except Exception as error:  # noqa: BLE001 - one mode failing to start is itself a result
                progress(f"fanout_modes: {mode} did not start: {error!r}")
                results["modes"][mode] = {"error": repr(error)[:2000]}
                continue
            try:
                results["modes"][mode] = measure(target, CLIENTS, broadcasts, workdir)
            finally:
                target.stop()
    results["figures"] = figures(results)
    return results


def figures(results: dict) -> list[dict]:
    rows = []
    baseline = (results["modes"].get("eventlet") or {}).get("per_client", {}).get("p99_ms")
    for label, result in results["modes"].items():
        p99 = (result.get("per_client") or {}).get("p99_ms")
        rows += [figure(f"modes {label}: per-client p99, N={results['clients']}", p99, "ms"),
                 figure(f"modes {label}: p99 ÷ eventlet p99", p99 / baseline if p99 and baseline else None, "×"),
                 figure(f"modes {label}: server CPU per broadcast", result.get("server_cpu_ms_per_broadcast"), "ms"),
                 figure(f"modes {label}: memory per connection", result.get("kb_per_connection"), "KB"),
                 figure(f"modes {label}: messages lost or duplicated", lost(result), "msgs", 0,
                        higher_is_better=False)]
    return rows
