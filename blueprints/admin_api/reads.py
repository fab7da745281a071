"""Cached, breaker-guarded reads shared by the admin API views."""
from flask import jsonify

from blueprints.http import ApiError, runtime
from services.cache.circuit_breaker import CircuitOpenError, read_through


def cached_json(namespace: str, key, compute):
    """Answer `compute()` through the cache; while the database is down, the last good answer marked stale."""
    services = runtime()
    try:
        value, stale = read_through(services.cache, services.breaker, namespace, key, compute)
    except (CircuitOpenError, *services.breaker.trip_on):
        raise ApiError(503, "the database is unavailable and there is no cached answer yet",
                       {"breaker": services.breaker.status()}) from None
    return jsonify(value | {"stale": True} if stale else value)
