"""Run the benchmarks, print a table of figures against their goals, and write bench/results/latest.json."""
import argparse
import importlib
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

from bench.common import RESULTS_DIR, print_table, progress, write_json

# Module per benchmark; each has run(quick) -> {"figures": [...], ...details}.
BENCHMARKS = {"ingest": "bench.ingest", "monitoring": "bench.monitoring", "api": "bench.api_latency",
              "fanout": "bench.fanout", "fanout_modes": "bench.fanout_modes", "ingest_to_screen": "bench.ingest_to_screen",
              "alerts": "bench.alerts", "cluster": "bench.cluster"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="short smoke run (well under 2 minutes)")
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                        help="stdout: a readable table (default), the whole JSON document, or a Markdown table")
    parser.add_argument("--from", dest="source", metavar="FILE",
                        help="print the results of an earlier run (e.g. bench/results/latest.json) instead of running")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if args.source:
        document = json.loads(Path(args.source).read_text())
        report(document, args.format)
        return 0
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known (STACK.md)
    document = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
                "benchmarks": {}}
    # Other work on the machine shows up here; the figures are only comparable at a similar load.
    document["machine"]["load_average_before"] = os.getloadavg()
    started = time.perf_counter()
    for name in args.names or BENCHMARKS:
        progress(f"{name}: starting")
        document["benchmarks"][name] = importlib.import_module(BENCHMARKS[name]).run(quick=args.quick)
    document["machine"]["load_average_after"] = os.getloadavg()
    document["duration_s"] = round(time.perf_counter() - started, 1)
    document["all_goals_met"] = all(row["met"] is not False for row in figures_of(document))
    write_json(document, RESULTS_DIR / "latest.json")
    report(document, args.format)
    progress(f"{len(figures_of(document))} figures in {document['duration_s']} s; JSON in {RESULTS_DIR / 'latest.json'}")
    return 0


def figures_of(document: dict) -> list[dict]:
    return [row for result in document["benchmarks"].values() for row in result["figures"]]


def report(document: dict, output_format: str) -> None:
    if output_format == "json":
        print(json.dumps(document, indent=2, default=str))
    else:
        print_table(figures_of(document), markdown=output_format == "markdown")


if __name__ == "__main__":
    sys.exit(main())
