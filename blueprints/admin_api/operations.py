"""The panel's own state: live host sample and KPIs, health, cache control, request performance."""
import time

from flask import current_app, jsonify

from blueprints.admin_api import bp
from blueprints.admin_api.reads import answer, read_context
from blueprints.audit_trail import record_event
from blueprints.http import ApiError, bounded_int, json_body, runtime
from extensions import db
from services.cache.cache_manager import UnknownNamespace
from services.cluster import registry
from services.cluster.shared_cache import cluster_stats
from services.dashboard import reads
from services.monitoring import health
from services.openapi import spec


@bp.get("/metrics/live")
def metrics_live():
    return answer(reads.LIVE)


@bp.get("/metrics/host")
def host_history():
    return answer(reads.HOST, minutes=bounded_int("minutes", 15, maximum=60 * 24 * 30))


@bp.get("/health")
def health_status():
    services = runtime()
    components = {"database": health.check_database(db.session, services.breaker),
                  "cache": {"status": "ok", **services.cache.stats()["totals"]},
                  "realtime": health.check_realtime(services),
                  "message_queue": services.cache.get_or_compute("health", "message_queue", lambda: (
                      health.check_message_queue(current_app.config["SOCKETIO_MESSAGE_QUEUE"]))),
                  "background_jobs": health.check_jobs(services, time.time()),
                  "cluster": current_app.extensions[registry.CLUSTER].health(),
                  "ingest_writer": services.ingest_writer.health(),
                  "circuit_breaker": services.breaker.status() | {
                      "status": "ok" if services.breaker.state == "closed" else "degraded"}}
    status = health.overall(components)
    return jsonify(status=status, components=components, host=services.host, pid=services.pid), (
        200 if status == "healthy" else 503)


@bp.get("/cache/stats")
def cache_stats():
    """This process's caches, and under `cluster` every process's (as of their last heartbeat) and their sums."""
    return jsonify(runtime().cache.stats() | {"cluster": cluster_stats(runtime())})


@bp.post("/cache/clear")
def cache_clear():
    namespace = json_body(required=False).field("namespace", str)
    try:
        removed = runtime().cache.clear(namespace)
    except UnknownNamespace as error:
        raise ApiError(422, error.message, {"field": "namespace"}) from None
    record_event("cache.clear", namespace or "all", {"removed": removed})
    return jsonify(cleared=namespace or "all", removed=removed, stats=runtime().cache.stats())


@bp.post("/cache/preload")
def cache_preload():
    """Warm what the dashboard reads on its first paint, through the same named reads its views answer with."""
    result = runtime().cache.preload(reads.first_page_loaders(read_context()))
    record_event("cache.preload", "dashboard", {"warmed": result["warmed"]})
    return jsonify(result | {"stats": runtime().cache.stats()})


@bp.get("/performance/stats")
def performance_stats():
    return answer(reads.PERFORMANCE, minutes=bounded_int("minutes", 15, maximum=1440))


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(spec.document(current_app.config["MAX_CONTENT_LENGTH"]))
