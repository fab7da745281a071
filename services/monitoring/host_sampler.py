"""Host and process samples from psutil: take, store raw, roll up to 1 min and 1 h, purge. Callers commit."""
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import psutil
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from database import HostSample
from services.analytics.time_buckets import BUCKET_SECONDS, floor_time

# Each rollup resolution (a time_buckets bucket) and the resolution it is built from.
ROLLUPS = {"1m": "raw", "1h": "1m"}
RESOLUTIONS = ("raw", *ROLLUPS)
# Averaged into a rollup row's `data`, each named by its path in a raw sample.
KEY_FIELDS = {
    "load_1": ("cpu", "load_avg", 0),
    "swap_percent": ("swap", "percent"),
    "disk_read_bytes_per_s": ("disk", "read_bytes_per_s"),
    "disk_write_bytes_per_s": ("disk", "write_bytes_per_s"),
    "net_sent_bytes_per_s": ("network", "sent_bytes_per_s"),
    "net_recv_bytes_per_s": ("network", "recv_bytes_per_s"),
    "process_rss": ("process", "rss"),
    "process_cpu_percent": ("process", "cpu_percent"),
}


OPEN_FILES_REFRESH_SECONDS = 10.0


class HostSampler:
    """Reads one host and one process; keep one per sampling loop, since rates and CPU use the last call."""

    def __init__(self, host: str | None = None, pid: int | None = None, disk_path: str = "/",
                 clock: Callable[[], float] = time.time,
                 disk_io: Callable = psutil.disk_io_counters, net_io: Callable = psutil.net_io_counters) -> None:
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.disk_path = disk_path
        self._clock = clock
        self._disk_io = disk_io
        self._net_io = net_io
        self._process = psutil.Process(self.pid)
        self._last_time: float | None = None
        self._last_counters: dict[str, int] = {}
        self._open_files_at: float | None = None
        self._open_files_count = 0
        # With interval=None psutil measures since the previous call (per thread), so prime it now;
        # the first take() in another thread or greenlet reads 0 for system CPU.
        psutil.cpu_percent(interval=None)
        psutil.cpu_percent(interval=None, percpu=True)
        self._process.cpu_percent(interval=None)

    def take(self) -> dict:
        """Return one JSON-safe sample; I/O rates are per second since the previous call (0 on the first)."""
        now = self._clock()
        rates = self._rates(now, self._counters())
        usage = psutil.disk_usage(self.disk_path)
        memory, swap = psutil.virtual_memory(), psutil.swap_memory()
        return {
            "host": self.host,
            "pid": self.pid,
            "ts": datetime.fromtimestamp(now, UTC).isoformat(),
            "cpu": {"percent": psutil.cpu_percent(interval=None),
                    "per_core": psutil.cpu_percent(interval=None, percpu=True),
                    "load_avg": [round(load, 2) for load in psutil.getloadavg()]},
            "memory": {"percent": memory.percent, "used": memory.used, "total": memory.total,
                       "available": memory.available},
            "swap": {"percent": swap.percent, "used": swap.used, "total": swap.total},
            "disk": {"percent": usage.percent, "used": usage.used, "total": usage.total,
                     "read_bytes_per_s": rates["read_bytes"], "write_bytes_per_s": rates["write_bytes"]},
            "network": {"sent_bytes_per_s": rates["sent_bytes"], "recv_bytes_per_s": rates["recv_bytes"]},
            "process": self._process_reading(),
        }

    def _counters(self) -> dict[str, int]:
        # Either reader returns None on hosts without disks or interfaces (some containers).
        disk, net = self._disk_io(), self._net_io()
        return {"read_bytes": disk.read_bytes if disk else 0, "write_bytes": disk.write_bytes if disk else 0,
                "sent_bytes": net.bytes_sent if net else 0, "recv_bytes": net.bytes_recv if net else 0}

    def _rates(self, now: float, counters: dict[str, int]) -> dict[str, float]:
        previous, last_time = self._last_counters, self._last_time
        self._last_time, self._last_counters = now, counters
        if not previous or now <= last_time:
            return dict.fromkeys(counters, 0.0)
        elapsed = now - last_time
        # A counter that went backwards was reset (device replugged, host rebooted): no rate, not a negative one.
        return {name: round(max(value - previous[name], 0) / elapsed, 1) for name, value in counters.items()}

    def _process_reading(self) -> dict:
        with self._process.oneshot():
            return {"rss": self._process.memory_info().rss,
                    "cpu_percent": self._process.cpu_percent(interval=None),
                    "threads": self._process.num_threads(),
                    "open_files": self._open_files()}

    def _open_files(self) -> int:
        # Descriptors, as `ulimit -n` counts "open files": one listdir, where open_files() reads a link
        # per descriptor (33 ms at 5,000 sockets); open_files() only where num_fds is missing (Windows).
        # Even the listdir blocks the event loop for ~3 ms per 1,000 sockets (py-spy, fan-out benchmark),
        # so the count is refreshed every OPEN_FILES_REFRESH_SECONDS, not at every sample.
        now = self._clock()
        if self._open_files_at is not None and now - self._open_files_at < OPEN_FILES_REFRESH_SECONDS:
            return self._open_files_count
        try:
            if hasattr(self._process, "num_fds"):
                count = self._process.num_fds()
            else:
                count = len(self._process.open_files())
        except psutil.AccessDenied:
            count = 0
        self._open_files_at, self._open_files_count = now, count
        return count


def store(session: Session, sample: dict) -> HostSample:
    """Add `sample` as a raw row."""
    row = HostSample(host=sample["host"], pid=sample["pid"], resolution="raw",
                     taken_at=datetime.fromisoformat(sample["ts"]), cpu_percent=sample["cpu"]["percent"],
                     memory_percent=sample["memory"]["percent"], disk_percent=sample["disk"]["percent"],
                     data=sample)
    session.add(row)
    session.flush()
    return row


def roll_up(session: Session, resolution: str, now: datetime) -> int:
    """Add one averaged row per (host, pid) and complete period not yet rolled up; returns rows added.

    Periods up to a series' newest rollup count as done, so a run never rescans the whole raw window.
    Roll "1m" before "1h", or an hour misses its last minute.
    """
    source = _rollup_source(resolution)
    cutoff = floor_time(now, resolution)
    period = timedelta(seconds=BUCKET_SECONDS[resolution])
    done = _newest_rollups(session, resolution)
    added = 0
    for host, pid in _series(session, source, cutoff):
        start = done[host, pid] + period if (host, pid) in done else None
        for begins, rows in _by_period(_source_rows(session, source, host, pid, start, cutoff), resolution):
            session.add(_averaged(rows, resolution, begins))
            added += 1
    session.flush()
    return added


def _rollup_source(resolution: str) -> str:
    if resolution not in ROLLUPS:
        raise ValueError(f"resolution must be one of {', '.join(ROLLUPS)}")
    return ROLLUPS[resolution]


def _newest_rollups(session: Session, resolution: str) -> dict[tuple[str, int], datetime]:
    query = (select(HostSample.host, HostSample.pid, func.max(HostSample.taken_at))
             .where(HostSample.resolution == resolution).group_by(HostSample.host, HostSample.pid))
    return {(host, pid): newest for host, pid, newest in session.execute(query)}


def _series(session: Session, resolution: str, before: datetime) -> list[tuple[str, int]]:
    query = (select(HostSample.host, HostSample.pid).distinct()
             .where(HostSample.resolution == resolution, HostSample.taken_at < before))
    return [(host, pid) for host, pid in session.execute(query)]


def _source_rows(session: Session, resolution: str, host: str, pid: int,
                 start: datetime | None, before: datetime) -> list[HostSample]:
    query = select(HostSample).where(HostSample.resolution == resolution, HostSample.host == host,
                                     HostSample.pid == pid, HostSample.taken_at < before)
    if start is not None:
        query = query.where(HostSample.taken_at >= start)
    return list(session.scalars(query.order_by(HostSample.taken_at)))


def _by_period(rows: Iterable[HostSample], bucket: str) -> list[tuple[datetime, list[HostSample]]]:
    groups: dict[datetime, list[HostSample]] = defaultdict(list)
    for row in rows:
        groups[floor_time(row.taken_at, bucket)].append(row)
    return sorted(groups.items())


def _averaged(rows: list[HostSample], resolution: str, begins: datetime) -> HostSample:
    # A minute row stands for many raw samples, so an hour weighs each minute by its count.
    weights = [sample_weight(row) for row in rows]
    keys = [_key_values(row) for row in rows]
    data = {name: _mean([values[name] for values in keys], weights) for name in KEY_FIELDS}
    data["cpu_max"] = max(_cpu_max(row) for row in rows)
    data["samples"] = sum(weights)
    return HostSample(host=rows[0].host, pid=rows[0].pid, resolution=resolution, taken_at=begins,
                      cpu_percent=_mean([row.cpu_percent for row in rows], weights),
                      memory_percent=_mean([row.memory_percent for row in rows], weights),
                      disk_percent=_mean([row.disk_percent for row in rows], weights), data=data)


def sample_weight(row: HostSample) -> int:
    """How many raw samples a row stands for: 1 for a raw sample, its count for a rollup."""
    return 1 if row.resolution == "raw" else row.data.get("samples", 1)


def figures(row: HostSample) -> dict[str, float | None]:
    """A raw sample's or a rollup's figures by rollup name: the three percents, cpu_max and KEY_FIELDS."""
    return {"cpu_percent": row.cpu_percent, "memory_percent": row.memory_percent, "disk_percent": row.disk_percent,
            "cpu_max": _cpu_max(row), **_key_values(row)}


def _cpu_max(row: HostSample) -> float:
    return row.cpu_percent if row.resolution == "raw" else row.data.get("cpu_max", row.cpu_percent)


def _key_values(row: HostSample) -> dict[str, float | None]:
    if row.resolution != "raw":
        return {name: row.data.get(name) for name in KEY_FIELDS}
    return {name: _dig(row.data, path) for name, path in KEY_FIELDS.items()}


def _dig(data, path: tuple):
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _mean(values: list[float | None], weights: list[int]) -> float | None:
    pairs = [(value, weight) for value, weight in zip(values, weights, strict=True) if value is not None]
    total = sum(weight for _, weight in pairs)
    return round(sum(value * weight for value, weight in pairs) / total, 2) if total else None


def purge(session: Session, now: datetime, raw_seconds: int, minute_days: int, hour_days: int) -> dict:
    """Delete rows older than each resolution's retention; returns {"raw", "1m", "1h"} counts deleted."""
    cutoffs = {"raw": now - timedelta(seconds=raw_seconds), "1m": now - timedelta(days=minute_days),
               "1h": now - timedelta(days=hour_days)}
    return {resolution: _delete_before(session, resolution, cutoff) for resolution, cutoff in cutoffs.items()}


def _delete_before(session: Session, resolution: str, cutoff: datetime) -> int:
    statement = delete(HostSample).where(HostSample.resolution == resolution, HostSample.taken_at < cutoff)
    return session.execute(statement, execution_options={"synchronize_session": False}).rowcount


def recent(session: Session, since: datetime, resolution: str = "raw", host: str | None = None) -> list[dict]:
    """Return chart points at `resolution` from `since` on, oldest first."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
    query = select(HostSample.taken_at, HostSample.host, HostSample.pid, HostSample.cpu_percent,
                   HostSample.memory_percent, HostSample.disk_percent).where(
        HostSample.resolution == resolution, HostSample.taken_at >= since)
    if host is not None:
        query = query.where(HostSample.host == host)
    return [{"ts": taken_at.isoformat(), "host": row_host, "pid": pid, "cpu_percent": cpu,
             "memory_percent": memory, "disk_percent": disk}
            for taken_at, row_host, pid, cpu, memory, disk in
            session.execute(query.order_by(HostSample.taken_at, HostSample.id))]


def latest(session: Session, since: datetime | None = None) -> list[dict]:
    """Return the newest raw sample of each (host, pid), optionally only those taken since `since`."""
    newest = select(HostSample.host, HostSample.pid, func.max(HostSample.taken_at).label("taken_at")).where(
        HostSample.resolution == "raw").group_by(HostSample.host, HostSample.pid)
    if since is not None:
        newest = newest.where(HostSample.taken_at >= since)
    newest = newest.subquery()
    query = select(HostSample).join(newest, and_(
        HostSample.host == newest.c.host, HostSample.pid == newest.c.pid,
        HostSample.taken_at == newest.c.taken_at)).where(HostSample.resolution == "raw")
    samples: dict[tuple[str, int], dict] = {}
    for row in session.scalars(query.order_by(HostSample.host, HostSample.pid, HostSample.id)):
        samples[row.host, row.pid] = row.data  # two rows at one instant: the later insert wins
    return list(samples.values())
