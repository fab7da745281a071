"""SOCKETIO_ASYNC_MODE compared: the fan-out to 1,000 clients with Pulseboard under eventlet, gevent and threading.

Each is `python app.py` with that one setting; app.py monkey-patches for eventlet and gevent.
"""
import tempfile
from pathlib import Path

from bench.common import figure, progress
from bench.fanout import lost, measure, p99, start_ours, typical_p99

CLIENTS = 1_000
MODES = ("eventlet", "gevent", "threading")


def run(quick: bool = False) -> dict:
    broadcasts = 5 if quick else 40
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
    baseline = typical_p99(results["modes"].get("eventlet") or {})
    for label, result in results["modes"].items():
        typical = typical_p99(result)
        rows += [figure(f"modes {label}: per-client p99, N={results['clients']}", p99(result), "ms"),
                 figure(f"modes {label}: per-broadcast p99, median of broadcasts", typical, "ms"),
                 figure(f"modes {label}: that median ÷ eventlet's", typical / baseline if typical and baseline else None,
                        "×"),
                 figure(f"modes {label}: server CPU per broadcast", result.get("server_cpu_ms_per_broadcast"), "ms"),
                 figure(f"modes {label}: memory per connection", result.get("kb_per_connection"), "KB"),
                 figure(f"modes {label}: messages lost or duplicated", lost(result), "msgs", 0,
                        higher_is_better=False)]
    return rows
