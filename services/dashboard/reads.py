"""The admin API's cached reads, each named once: its cache namespace, the key its parameters make, and what it
computes. The views answer through these objects and preload warms the dashboard's first page through the same
ones, so a view whose key changes cannot leave preload warming entries that nobody reads."""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.alerts import periods
from services.analytics import activity_heatmap, business, kpis, metric_queries
from services.analytics.time_buckets import RangeError, floor_time
from services.monitoring import host_sampler, performance
from services.runtime.process import Runtime

# The view the dashboard opens with (templates/admin/dashboard.html renders it; its JS starts from it).
FIRST_PAGE_VIEW = {"minutes": 30, "period": "hourly", "activity_limit": 50}


@dataclass(frozen=True)
class ReadContext:
    """What a read computes from: the request's or task's session, the process's runtime, and the time."""
    session: Session
    runtime: Runtime
    now: datetime


@dataclass(frozen=True)
class CachedRead:
    namespace: str
    compute: Callable[..., dict]

    def key(self, **params) -> tuple:
        """The cache key: the read's name and the parameters as the client gave them (None where defaulted)."""
        return (self.compute.__name__, *sorted(params.items()))

    def loader(self, context: ReadContext, **params) -> Callable[[], dict]:
        return lambda: self.compute(context, **params)


def live_snapshot(context: ReadContext) -> dict:
    return kpis.live_snapshot(context.session, context.runtime, context.now)


def host_history(context: ReadContext, minutes: int) -> dict:
    """Host samples for the line chart: raw up to an hour, then minute and hour rollups."""
    resolution = "raw" if minutes <= 60 else "1m" if minutes <= 60 * 24 else "1h"
    since = context.now - timedelta(minutes=minutes)
    return {"resolution": resolution, "samples": host_sampler.recent(context.session, since, resolution)}


def revenue(context: ReadContext, period: str, start: datetime | None, end: datetime | None,
            currency: str | None) -> dict:
    start, end = business.revenue_range(period, start, end, context.now)
    return business.revenue(context.session, period, start, end, currency)


def recent_transactions(context: ReadContext, status: str | None, since: datetime | None, limit: int) -> dict:
    return {"transactions": business.recent_transactions(context.session, limit, status, since)}


def transaction_flow(context: ReadContext, since: datetime | None, until: datetime | None) -> dict:
    until = until or context.now
    since = since or until - timedelta(hours=24)
    if since >= until:
        raise RangeError("since must be before until")
    return business.transaction_flow(context.session, since, until)


def user_activity(context: ReadContext, minutes: int, limit: int) -> dict:
    return business.user_activity(context.session, context.now, minutes, limit)


def activity_by_hour_and_weekday(context: ReadContext, days: int, action: str | None) -> dict:
    return activity_heatmap.activity_heatmap(context.session, context.now - timedelta(days=days), context.now, action)


def metric_series(context: ReadContext, name: str, agg: str, bucket: str, start: datetime | None,
                  end: datetime | None, group_by: str | None) -> dict:
    start, end = metric_queries.query_range(bucket, start, end, context.now)
    return metric_queries.series(context.session, name, agg, bucket, start, end, group_by)


def timeline(context: ReadContext, minutes: int) -> dict:
    since = floor_time(context.now - timedelta(minutes=minutes - 1), "1m")
    by_minute = performance.per_minute(context.session, since, context.now, context.runtime.monitor.snapshot_unflushed())
    return business.timeline(context.session, since, context.now, by_minute)


def performance_stats(context: ReadContext, minutes: int) -> dict:
    since = performance.minute_start(context.now - timedelta(minutes=minutes))
    current = context.runtime.monitor.snapshot_unflushed()
    return {"window_minutes": minutes, "since": since.isoformat(), "until": context.now.isoformat(),
            "endpoints": performance.endpoint_stats(context.session, since, context.now, current),
            "summary": performance.summary(context.session, since, context.now, current),
            "processes": performance.process_stats(context.session, since, context.now, current),
            "monitor_overhead_us": context.runtime.monitor.overhead_us()}


def alert_periods(context: ReadContext, minutes: int) -> dict:
    """Firing periods in the window, for the bands on the time charts; pushes start and end bands between reads."""
    since = context.now - timedelta(minutes=minutes)
    return {"since": since.isoformat(), "until": context.now.isoformat(),
            "periods": periods.firing_periods(context.session, since, context.now)}


LIVE = CachedRead("live", live_snapshot)
HOST = CachedRead("live", host_history)
REVENUE = CachedRead("revenue", revenue)
TRANSACTIONS = CachedRead("analytics", recent_transactions)
FLOW = CachedRead("analytics", transaction_flow)
ACTIVITY = CachedRead("analytics", user_activity)
HEATMAP = CachedRead("analytics", activity_by_hour_and_weekday)
TIMELINE = CachedRead("analytics", timeline)
METRIC_SERIES = CachedRead("metrics", metric_series)
PERFORMANCE = CachedRead("performance", performance_stats)
ALERT_PERIODS = CachedRead("live", alert_periods)


def first_page(view: dict = FIRST_PAGE_VIEW) -> list[tuple[CachedRead, dict]]:
    """The cached reads the dashboard makes for its first paint, with the parameters of `view`."""
    minutes = view["minutes"]
    return [(LIVE, {}), (HOST, {"minutes": minutes}), (TIMELINE, {"minutes": minutes}),
            (REVENUE, {"period": view["period"], "start": None, "end": None, "currency": None}),
            (FLOW, {"since": None, "until": None}), (ACTIVITY, {"minutes": minutes, "limit": view["activity_limit"]}),
            (PERFORMANCE, {"minutes": minutes}), (ALERT_PERIODS, {"minutes": minutes}),
            (HEATMAP, {"days": activity_heatmap.DEFAULT_DAYS, "action": None})]


def first_page_loaders(context: ReadContext) -> dict:
    """{namespace: {key: loader}} for CacheManager.preload: exactly the entries the first paint reads."""
    loaders: dict = {}
    for read, params in first_page():
        loaders.setdefault(read.namespace, {})[read.key(**params)] = read.loader(context, **params)
    return loaders
