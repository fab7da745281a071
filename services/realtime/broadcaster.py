"""The live_update broadcaster: once per interval, one small message for every dashboard, or nothing at all."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from services.analytics import kpis
from services.cluster.registry import SoloCluster
from services.ingest.event_schema import amount_text
from services.realtime.presence import Presence
from services.runtime.process import Runtime


def compact_host(sample: dict | None) -> dict | None:
    """The four numbers the KPI cards show; the full sample goes to the metrics room."""
    if not sample:
        return None
    return {"cpu": sample["cpu"]["percent"], "memory": sample["memory"]["percent"],
            "disk": sample["disk"]["percent"], "load1": sample["cpu"]["load_avg"][0]}


def revenue_delta(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Revenue added per currency since the last update; a new day starts from zero."""
    delta = {}
    for currency, total in after.items():
        change = Decimal(total) - Decimal(before.get(currency, "0"))
        if change < 0:
            change = Decimal(total)
        if change:
            delta[currency] = amount_text(int(change * 10_000))
    return delta


class LiveBroadcaster:
    """One per process; in a cluster only the leader's ticks (`cluster`: services/cluster/registry.py's Registry or
    SoloCluster) build an update, from the cluster's figures, and publish it with the leader's fencing token."""

    def __init__(self, runtime: Runtime, presence: Presence, interval: float, cluster=None) -> None:
        self.runtime, self.presence, self.interval = runtime, presence, interval
        self.cluster = cluster or SoloCluster(runtime)
        self.previous_revenue: dict[str, str] | None = None
        self.previous_counts = (0, 0)

    def tick(self, session: Session, now: datetime) -> dict | None:
        """Build and publish one live_update when this process leads and somebody listens; return it (None else)."""
        # Taken before the check: a publish after a pause carries the token of the holding that was checked, and
        # the stream refuses it if another process took the lease meanwhile.
        fence = self.cluster.fence()
        if not self.cluster.is_leader():
            # A leader that comes back later starts its deltas afresh rather than from its last turn's figures.
            self.previous_revenue, self.previous_counts = None, (0, 0)
            return None
        if not (self.presence.listening("live_update") or self.runtime.peers.listening("live_update")):
            return None
        snapshot = self.runtime.cache.get_or_compute("live", "snapshot",
                                                     lambda: kpis.live_snapshot(session, self.runtime, now))
        ingested = self.runtime.ingested + self.runtime.peers.ingested()
        counts = (ingested["transactions"], ingested["activities"])
        revenue = snapshot["kpis"]["revenue_today"]
        update = {"kpis": snapshot["kpis"], "host": compact_host(snapshot["host"]), "processes": self.processes(),
                  "performance": {key: snapshot["performance"].get(key)
                                  for key in ("count", "rps", "avg_ms", "p95_ms", "p99_ms", "error_rate")},
                  "revenue_delta": revenue_delta(self.previous_revenue, revenue) if self.previous_revenue is not None else {},
                  # Never negative: a process that leaves the cluster takes its counters with it.
                  "transactions_delta": max(0, counts[0] - self.previous_counts[0]),
                  "activity_delta": max(0, counts[1] - self.previous_counts[1]), "interval": self.interval}
        self.previous_revenue, self.previous_counts = revenue, counts
        # Refused (None) when another process took the lease while this one was paused after the check above.
        if self.runtime.hub.publish("live_update", [update], fence=fence) is None:
            return None
        return update

    def processes(self) -> list[dict]:
        """Each process's host figures, so the dashboard can show the cluster beside the leader's own."""
        samples = [self.runtime.latest_sample] + [peer.sample for peer in self.runtime.peers.processes]
        return [{"host": sample["host"], "pid": sample["pid"], **compact_host(sample)} for sample in samples if sample]
