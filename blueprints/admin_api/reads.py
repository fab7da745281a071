"""Cached, breaker-guarded reads shared by the admin API views."""
from flask import jsonify

from blueprints.http import ApiError, runtime
from database import utcnow
from extensions import db
from services.analytics.time_buckets import RangeError
from services.cache.circuit_breaker import read_through
from services.dashboard.reads import CachedRead, ReadContext


def read_context() -> ReadContext:
    return ReadContext(db.session, runtime(), utcnow())


def answer(read: CachedRead, **params):
    """Answer a named read through the cache; a range it cannot answer is the client's 422."""
    try:
        return cached_json(read.namespace, read.key(**params), read.loader(read_context(), **params))
    except RangeError as error:
        raise ApiError(422, str(error)) from None


def cached_json(namespace: str, key, compute):
    """Answer `compute()` through the cache; while the database is down, the last good answer marked stale.

    With no answer cached yet, the database's error goes on to the one 503 handler (blueprints/database_errors.py).
    """
    services = runtime()
    value, stale = read_through(services.cache, services.breaker, namespace, key, compute)
    return jsonify(value | {"stale": True} if stale else value)
