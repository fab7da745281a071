"""The benchmark's side of bench.fanout_clients: client processes, their control lines, their results."""
import json
import os
import queue
import subprocess
import sys
import threading
import time

from bench.common import ROOT


class Fleet:
    """Client processes of bench.fanout_clients, `counts[i]` clients each, with the same options."""

    def __init__(self, counts: list[int], workdir, max_seconds: float, **options) -> None:
        self.lines: "queue.Queue[tuple[int, dict]]" = queue.Queue()
        self.processes, self.result_paths = [], []
        self.complete: dict[int, set[int]] = {}
        self.status: list[dict | None] = [None] * len(counts)
        offset = 0
        for index, count in enumerate(counts):
            path = f"{workdir}/clients-{os.getpid()}-{time.monotonic_ns()}-{index}.json"
            argv = [sys.executable, "-m", "bench.fanout_clients", "--count", str(count), "--offset", str(offset),
                    "--max-seconds", str(max_seconds), "--results", path]
            for name, value in options.items():
                argv += [f"--{name.replace('_', '-')}", str(value)]
            offset += count
            process = subprocess.Popen(argv, cwd=ROOT,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.processes.append(process)
            self.result_paths.append(path)
            threading.Thread(target=self._read, args=(index, process), daemon=True).start()

    def _read(self, index: int, process) -> None:
        for line in process.stdout:
            try:
                self.lines.put((index, json.loads(line)))
            except ValueError:
                pass
        self.lines.put((index, {"phase": "eof"}))

    def _pump(self, until, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not until():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                index, message = self.lines.get(timeout=remaining)
            except queue.Empty:
                return False
            if "complete" in message:
                self.complete.setdefault(message["complete"], set()).add(index)
            elif message.get("phase") == "connected":
                self.status[index] = message
            elif message.get("phase") == "eof" and self.status[index] is None:
                self.status[index] = {"connected": 0, "failed": None, "errors": {"client process exited": 1}}
        return True

    def wait_connected(self, timeout: float) -> dict:
        self._pump(lambda: all(self.status), timeout)
        done = [status or {"connected": 0, "errors": {"not connected in time": 1}} for status in self.status]
        return {"connected": sum(s.get("connected", 0) for s in done),
                "failed": sum(s.get("failed") or 0 for s in done),
                "connect_s": max((s.get("connect_s") or 0) for s in done),
                "errors": [s.get("errors") for s in done if s.get("errors")], "pids": [p.pid for p in self.processes],
                "opens": [s["opens"] for s in done if s.get("opens") and None not in s["opens"]],
                "ping_interval_s": next((s["ping_interval_s"] for s in done if s.get("ping_interval_s")), None)}

    def wait_complete(self, k: int, timeout: float) -> bool:
        """Until every process saw all of its joined clients receive mark k."""
        return self._pump(lambda: len(self.complete.get(k, ())) == len(self.processes), timeout)

    def finish(self, timeout: float = 60.0) -> list[dict]:
        """Ask for the results, wait for the processes to exit and read what they wrote."""
        for process in self.processes:
            try:
                process.stdin.write("report\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        results = []
        for process, path in zip(self.processes, self.result_paths, strict=True):
            try:
                process.wait(timeout=timeout)
            except Exception:  # noqa: BLE001 - a stuck client is killed, its results are lost
                process.kill()
                process.wait(timeout=10)
            try:
                with open(path) as file:
                    results.append(json.load(file))
                os.unlink(path)
            except (OSError, ValueError):
                results.append({"joined": 0, "arrivals": [], "server_ts": {}, "sent": {}, "error": "no results"})
        return results
