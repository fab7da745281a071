"""The live_update broadcaster: once per interval, one small message for every dashboard, or nothing at all."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from services.analytics import kpis
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
    def __init__(self, runtime: Runtime, presence: Presence, interval: float) -> None:
        self.runtime, self.presence, self.interval = runtime, presence, interval
        self.previous_revenue: dict[str, str] | None = None
        self.previous_counts = (0, 0)

    def tick(self, session: Session, now: datetime) -> dict | None:
        """Build and publish one live_update when somebody listens; return it (None when nobody does)."""
        if not self.presence.listening("live_update"):
            return None
        snapshot = self.runtime.cache.get_or_compute("live", "snapshot",
                                                     lambda: kpis.live_snapshot(session, self.runtime, now))
        counts = (self.runtime.ingested["transactions"], self.runtime.ingested["activities"])
        revenue = snapshot["kpis"]["revenue_today"]
        update = {"kpis": snapshot["kpis"], "host": compact_host(snapshot["host"]),
                  "performance": {key: snapshot["performance"].get(key)
                                  for key in ("count", "rps", "avg_ms", "p95_ms", "p99_ms", "error_rate")},
                  "revenue_delta": revenue_delta(self.previous_revenue, revenue) if self.previous_revenue is not None else {},
                  "transactions_delta": counts[0] - self.previous_counts[0],
                  "activity_delta": counts[1] - self.previous_counts[1], "interval": self.interval}
        self.previous_revenue, self.previous_counts = revenue, counts
        self.runtime.hub.publish("live_update", [update])
        return update
