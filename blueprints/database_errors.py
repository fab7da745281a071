"""One answer for "the database is unavailable or busy", whichever view or hook met it: 503 with Retry-After.

Ingest answers 202 only after its commit, so a 503 means the batch was not stored, or, when the connection
died during the commit itself, perhaps was: either way the sender sends it again after Retry-After, and
repeated ids are stored once.
"""
import logging
import math

from flask import Flask, make_response, render_template, request

from blueprints.http import json_error, runtime, wants_json
from extensions import db
from services.cache.circuit_breaker import CircuitOpenError
from services.runtime.process import DATABASE_FAILURES

log = logging.getLogger(__name__)
UNAVAILABLE = (CircuitOpenError, *DATABASE_FAILURES)
MESSAGE = "the database is unavailable or busy; retry after the number of seconds in Retry-After"


def handle_database_unavailable(error: Exception):
    # One line, no traceback: an outage fails every request alike, and the cause is in the first line.
    log.warning("database unavailable on %s %s: %s", request.method, request.path, first_line(error))
    db.session.rollback()
    seconds = retry_after(error)
    if wants_json():
        response = json_error(503, MESSAGE, {"retry_after": seconds})
    else:
        response = make_response(render_template("error.html", status=503, message=MESSAGE.capitalize() + "."), 503)
    response.headers["Retry-After"] = str(seconds)
    return response


def retry_after(error: Exception) -> int:
    """Whole seconds until the breaker tries the database again (when it is open), else its reset time."""
    seconds = error.retry_in if isinstance(error, CircuitOpenError) else runtime().breaker.reset_timeout
    return max(1, math.ceil(seconds))


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [error.__class__.__name__])[0][:300]


def register_database_errors(app: Flask) -> None:
    for error_class in UNAVAILABLE:
        app.register_error_handler(error_class, handle_database_unavailable)
