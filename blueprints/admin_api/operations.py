"""The panel's own state: live host sample and KPIs, health, cache control, request performance."""
import time
from datetime import timedelta

from flask import current_app, jsonify, request
from flask_login import current_user

from blueprints.admin_api import bp
from blueprints.admin_api.reads import cached_json
from blueprints.http import ApiError, bounded_int, json_body, runtime
from database import utcnow
from extensions import db
from services.accounts import audit
from services.analytics import business, kpis
from services.cache.cache_manager import UnknownNamespace
from services.monitoring import health, host_sampler, performance
from services.openapi import spec


def live_snapshot() -> dict:
    return kpis.live_snapshot(db.session, runtime(), utcnow())


@bp.get("/metrics/live")
def metrics_live():
    return cached_json("live", "snapshot", live_snapshot)


@bp.get("/metrics/host")
def host_history():
    """Host samples for the line chart: raw up to an hour, then minute and hour rollups."""
    minutes = bounded_int("minutes", 15, maximum=60 * 24 * 30)
    resolution = "raw" if minutes <= 60 else "1m" if minutes <= 60 * 24 else "1h"
    since = utcnow() - timedelta(minutes=minutes)
    return cached_json("live", ("host", minutes), lambda: {
        "resolution": resolution, "samples": host_sampler.recent(db.session, since, resolution)})


@bp.get("/health")
def health_status():
    services = runtime()
    components = {"database": health.check_database(db.session),
                  "cache": {"status": "ok", **services.cache.stats()["totals"]},
                  "realtime": health.check_realtime(services),
                  "message_queue": services.cache.get_or_compute("health", "message_queue", lambda: (
                      health.check_message_queue(current_app.config["SOCKETIO_MESSAGE_QUEUE"]))),
                  "background_jobs": health.check_jobs(services, time.time()),
                  "circuit_breaker": services.breaker.status() | {
                      "status": "ok" if services.breaker.state == "closed" else "degraded"}}
    status = health.overall(components)
    return jsonify(status=status, components=components, host=services.host, pid=services.pid), (
        200 if status == "healthy" else 503)


@bp.get("/cache/stats")
def cache_stats():
    return jsonify(runtime().cache.stats())


@bp.post("/cache/clear")
def cache_clear():
    namespace = json_body(required=False).get("namespace")
    try:
        removed = runtime().cache.clear(namespace)
    except UnknownNamespace as error:
        raise ApiError(422, error.message, {"field": "namespace"}) from None
    audit.record(db.session, current_user.username, "cache.clear", namespace or "all", {"removed": removed},
                 request.remote_addr)
    db.session.commit()
    return jsonify(cleared=namespace or "all", removed=removed, stats=runtime().cache.stats())


@bp.post("/cache/preload")
def cache_preload():
    """Warm the queries the dashboard makes on first paint, with the keys its views use."""
    now = utcnow()
    start, end = business.revenue_range("hourly", None, None, now)
    loaders = {"live": {"snapshot": live_snapshot},
               "revenue": {("hourly", None, None, None): lambda: business.revenue(db.session, "hourly", start, end)},
               "analytics": {("flow", None, None): lambda: business.transaction_flow(db.session, now - timedelta(hours=24), now),
                             ("activity", 30, 50): lambda: business.user_activity(db.session, now, 30, 50),
                             ("recent", None, None, 50): lambda: {
                                 "transactions": business.recent_transactions(db.session, 50)}}}
    result = runtime().cache.preload(loaders)
    audit.record(db.session, current_user.username, "cache.preload", "dashboard", {"warmed": result["warmed"]},
                 request.remote_addr)
    db.session.commit()
    return jsonify(result | {"stats": runtime().cache.stats()})


@bp.get("/performance/stats")
def performance_stats():
    minutes = bounded_int("minutes", 15, maximum=1440)
    services = runtime()

    def compute():
        now = utcnow()
        since, current = now - timedelta(minutes=minutes), services.monitor.snapshot_current()
        return {"window_minutes": minutes, "since": since.isoformat(), "until": now.isoformat(),
                "endpoints": performance.endpoint_stats(db.session, since, now, current),
                "summary": performance.summary(db.session, since, now, current),
                "monitor_overhead_us": services.monitor.overhead_us()}
    return cached_json("performance", minutes, compute)


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(spec.document())
