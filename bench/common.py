"""Shared helpers: percentiles, goal rows, progress lines and the results table."""
import json
import math
import statistics
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], pct: float) -> float | None:
    """The pct-th percentile with linear interpolation (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def latency_summary(seconds: list[float]) -> dict:
    """p50/p99/max in milliseconds of a list of durations in seconds."""
    ms = [value * 1e3 for value in seconds]
    return {"count": len(ms), "p50_ms": rounded(percentile(ms, 50)), "p99_ms": rounded(percentile(ms, 99)),
            "max_ms": rounded(max(ms, default=None))}


def repeated(measure, rounds: int) -> dict:
    """Run `measure()` (returning a latency_summary) `rounds` times; the median p50/p99 resist one noisy round."""
    results = [measure() for _ in range(rounds)]
    return {"p50_ms": rounded(median([r["p50_ms"] for r in results])),
            "p99_ms": rounded(median([r["p99_ms"] for r in results])),
            "max_ms": max(r["max_ms"] for r in results), "rounds": results}


def cpu_seconds(process) -> float:
    """User plus system CPU time a process (a psutil.Process) and its live children (a server's ingest writer) have
    used so far."""
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy so far (all processes, the kernel's included)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq


def rounded(value, digits: int = 3):
    return None if value is None else round(value, digits)


def figure(name: str, value, unit: str, goal: float | None = None, higher_is_better: bool = True) -> dict:
    """One row of the results table: a measured value, its goal and whether the goal was met."""
    met = None
    if goal is not None and value is not None:
        met = value >= goal if higher_is_better else value <= goal
    goal_text = None if goal is None else f"{'≥' if higher_is_better else '≤'} {goal:g}"
    return {"figure": name, "value": rounded(value), "unit": unit, "goal": goal_text, "met": met}


def progress(message: str) -> None:
    """Progress goes to stderr so stdout stays the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def print_table(rows: list[dict], markdown: bool = False) -> None:
    header = ("figure", "value", "unit", "goal", "met")
    cells = [header] + [(row["figure"], format_value(row["value"]), row["unit"], row["goal"] or "—",
                         {True: "yes", False: "NO", None: "—"}[row["met"]]) for row in rows]
    if markdown:
        for index, line in enumerate(cells):
            print("| " + " | ".join(str(cell).replace("|", "\\|") for cell in line) + " |")
            if index == 0:
                print("|---|--:|---|---|---|")
        return
    widths = [max(len(str(line[column])) for line in cells) for column in range(len(header))]
    for index, line in enumerate(cells):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def format_value(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def write_json(document: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
