"""What each process shares of its own measurements, and this process's latest view of the others'.

Host samples and finished request minutes already reach the database with their host and pid; what only a
process's memory holds — the request minutes not flushed yet, its latest host sample, its ingest counters,
request totals since it started and its cache stats — it writes to a Redis hash of its own with a TTL at each
heartbeat (services/cluster/registry.py), and reads the others' there. Readers use the copy kept here, so no
request waits on Redis, and a process that cannot reach Redis simply sees no peers.
"""
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from services.realtime.presence import ROOM_OF_CHANNEL


@dataclass(frozen=True)
class Measurements:
    """One process's figures that only its memory holds."""
    host: str
    pid: int
    clients: dict = field(default_factory=dict)  # Presence.counts()
    requests: list[dict] = field(default_factory=list)  # RequestMonitor rows not flushed yet
    lifetime: list[dict] = field(default_factory=list)  # request totals since the process started
    sample: dict | None = None
    ingested: dict = field(default_factory=dict)
    rejected: dict = field(default_factory=dict)
    cache: dict | None = None


def own(runtime) -> Measurements:
    """This process's measurements now."""
    return Measurements(runtime.host, runtime.pid, runtime.presence.counts(), runtime.monitor.own_unflushed(),
                        runtime.request_lifetime(), runtime.latest_sample, dict(runtime.ingested),
                        dict(runtime.rejected), runtime.cache.stats())


def encode(measurements: Measurements) -> dict[str, str]:
    """The fields of a process's Redis hash."""
    values = {name: getattr(measurements, name) for name in SHARED_FIELDS}
    values["requests"] = [row | {"minute": row["minute"].isoformat()} for row in measurements.requests]
    return {name: json.dumps(value) for name, value in values.items()}


def decode(host: str, pid: int, fields: dict[bytes, bytes]) -> Measurements:
    values = {name.decode(): json.loads(value) for name, value in fields.items() if name.decode() in SHARED_FIELDS}
    values["requests"] = [row | {"minute": datetime.fromisoformat(row["minute"])} for row in values.get("requests", [])]
    return Measurements(host, pid, **values)


SHARED_FIELDS = tuple(name for name in Measurements.__dataclass_fields__ if name not in ("host", "pid"))


class Peers:
    """The other processes of the cluster as the last heartbeat read them; empty for a process alone."""

    def __init__(self) -> None:
        self.processes: list[Measurements] = []

    def replace(self, processes: list[Measurements]) -> None:
        self.processes = processes  # one assignment: readers see the old list or the new one, never a mix

    def request_rows(self) -> list[dict]:
        return [row for peer in self.processes for row in peer.requests]

    def ingested(self) -> Counter:
        return sum((Counter(peer.ingested) for peer in self.processes), Counter())

    def listening(self, channel: str) -> bool:
        """Whether a peer has a socket in the channel's room or an SSE stream (which may ask for any channel)."""
        room = ROOM_OF_CHANNEL[channel]
        return any(peer.clients.get("rooms", {}).get(room) or peer.clients.get("streams") for peer in self.processes)
