"""Shared view helpers: JSON errors for API paths, security headers, and reading request input (JSON bodies,
query parameters, path ids) by rules that hold for every view."""
import json
import re
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError
from sqlalchemy import BigInteger
from werkzeug.exceptions import HTTPException

from extensions import db, socketio
from services.ingest.event_schema import MAX_JSON_DEPTH

API_PATH_PREFIXES = ("/admin/api/", "/api/", "/healthz", "/metrics")

# Far enough apart for any data kept, close enough that range arithmetic (a day before, a week's floor) stays
# inside the calendar.
EARLIEST_QUERY_TIME, LATEST_QUERY_TIME = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
# Bodies are decoded as strict UTF-8, so text UTF-8 cannot encode (a lone surrogate) or PostgreSQL cannot
# store (NUL) can only arrive as a \u escape: finding one is a cheap test before walking the parsed body.
SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
JSON_TYPES = {str: "a string", bool: "true or false", int: "an integer", dict: "an object", list: "an array"}

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self' ws: wss:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    500: "internal_error", 503: "unavailable",
}


class ApiError(Exception):
    """Raised by views to answer a JSON error with a status and optional details."""

    def __init__(self, status: int, message: str, details=None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details
        self.code = code or ERROR_CODES.get(status, "error")


def json_error(status: int, message: str, details=None, code: str | None = None) -> Response:
    body = {"code": code or ERROR_CODES.get(status, "error"), "message": message}
    if details is not None:
        body["details"] = details
    response = jsonify(error=body)
    response.status_code = status
    return response


def wants_json() -> bool:
    if request.path.startswith(API_PATH_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def read_json(exact_decimals: bool = False):
    """The body as JSON, or a 415/400 a script writer can act on: the one place request JSON is parsed.

    `exact_decimals` parses fractions as Decimal, so amounts never pass through a float.
    """
    if not request.is_json:
        raise ApiError(415, "send JSON with Content-Type: application/json")
    try:
        text = request.get_data().decode("utf-8")
        payload = json.loads(text, parse_float=Decimal if exact_decimals else float)
    except RecursionError:
        raise ApiError(400, f"the body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:  # UnicodeDecodeError included
        raise ApiError(400, f"the body is not valid JSON: {error}") from None
    if json_depth(payload) > MAX_JSON_DEPTH:
        raise ApiError(400, f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
    culprit = unstorable_text_at(payload) if SUSPECT_ESCAPE.search(text) else None
    if culprit is not None:
        raise ApiError(400, f"{culprit} holds a NUL or a lone UTF-16 surrogate, which cannot be stored",
                       {"field": culprit})
    return payload


def json_depth(payload) -> int:
    """How deeply arrays and objects nest (up to one level past the limit), level by level without recursion.

    About a third of the parse's own time for a 5,000-item batch (3 ms against 9).
    """
    depth, level = 0, [payload] if type(payload) in (dict, list) else []
    while level and depth <= MAX_JSON_DEPTH:
        depth += 1
        level = [child for node in level for child in (node.values() if type(node) is dict else node)
                 if type(child) in (dict, list)]
    return depth


def unstorable_text_at(payload) -> str | None:
    """The path (`transactions[3].user_id`) of the first key or string holding NUL or a lone surrogate."""
    pending = [("", payload)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, str) and not storable(node):
            return path or "body"
        if isinstance(node, dict):
            for key, value in node.items():
                name = f"{path}.{key}" if path else key
                if not storable(key):
                    return name.encode("utf-8", "backslashreplace").decode()
                pending.append((name, value))
        elif isinstance(node, list):
            pending.extend((f"{path}[{index}]", value) for index, value in enumerate(node))
    return None


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


class JsonBody:
    """A request's JSON object, whose fields views read typed: a wrong type is a 422 that names the field."""

    def __init__(self, payload: dict) -> None:
        self.payload = payload

    def __contains__(self, name: str) -> bool:
        return name in self.payload

    def field(self, name: str, kind: type, default=None):
        """The field when it is a `kind` (true and false are not integers); `default` when absent or null."""
        value = self.payload.get(name)
        if value is None:
            return default
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ApiError(422, f"{name} must be {JSON_TYPES[kind]}", {"field": name})
        return value


def json_body(required: bool = True) -> JsonBody:
    """The request's JSON object; an empty body is an empty object when the body is optional."""
    if not required and not request.content_length:
        return JsonBody({})
    payload = read_json()
    if not isinstance(payload, dict):
        raise ApiError(400, "the body must be a JSON object")
    return JsonBody(payload)


def bounded_int(name: str, default: int, minimum: int = 1, maximum: int = 1000) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer", {"parameter": name}) from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"{name} must be between {minimum} and {maximum}", {"parameter": name})
    return value


def time_arg(name: str) -> datetime | None:
    """An ISO-8601 query parameter as an aware UTC datetime (no zone means UTC), or None when absent."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # a zone can carry 0001-01-01 out of the calendar
        raise ApiError(400, f"{name} must be an ISO-8601 time such as 2026-01-31T12:00:00Z",
                       {"parameter": name}) from None
    if not EARLIEST_QUERY_TIME <= moment <= LATEST_QUERY_TIME:
        raise ApiError(400, f"{name} must be between {EARLIEST_QUERY_TIME:%Y-%m-%d} and {LATEST_QUERY_TIME:%Y-%m-%d}",
                       {"parameter": name})
    return moment


def choice_arg(name: str, allowed, default: str | None = None) -> str | None:
    value = request.args.get(name) or default
    if value is not None and value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(allowed)}", {"parameter": name})
    return value


def text_arg(name: str, max_length: int) -> str | None:
    """A free-text query parameter, or None when absent; overlong text or a NUL (PostgreSQL cannot store one) is a 400."""
    value = request.args.get(name) or None
    if value is not None and (len(value) > max_length or "\x00" in value):
        raise ApiError(400, f"{name} must be at most {max_length} characters, without NUL", {"parameter": name})
    return value


def runtime():
    """The app's long-lived services (hub, cache, breaker, monitor, sampler); see services/runtime.py."""
    return current_app.extensions["runtime"]


def publish(channel: str, items: list[dict]) -> None:
    """Push what this request has committed, and let it leave now."""
    runtime().hub.publish(channel, items)
    let_pushes_leave()


def let_pushes_leave() -> None:
    # The fan-out loop runs only when this request yields, so a push otherwise waits until the response is
    # written (1,000-client fan-out, per-broadcast p99 from the API call over the bare stack's: median of
    # three runs 1.15x without this, of six runs 1.09x with it; noisy). Only after the commit: yielding
    # inside an open SQLite write would stall every other writer.
    socketio.sleep(0)


def get_or_404(session, model, ident: int):
    """The row with this primary key; an id its column cannot hold is no row either (not a driver's overflow)."""
    if not 0 <= ident <= largest_id(model) or (record := session.get(model, ident)) is None:
        raise ApiError(404, f"{model.__name__} {ident} not found")
    return record


def largest_id(model) -> int:
    """The largest primary key the model's column holds on every database we run on (PostgreSQL's INTEGER is 32-bit)."""
    (column,) = model.__table__.primary_key.columns
    return 2**63 - 1 if isinstance(column.type, BigInteger) else 2**31 - 1


class SecureWhenHttpsSessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over HTTPS, without a setting to forget."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def handle_api_error(error: ApiError):
    return json_error(error.status, error.message, error.details, error.code)


def handle_csrf_error(error: CSRFError):
    message = "missing or invalid CSRF token (send it in the X-CSRFToken header)"
    if wants_json():
        return json_error(400, message, code="csrf_failed")
    return render_template("error.html", status=400, message=error.description), 400


def handle_http_exception(error: HTTPException):
    if wants_json():
        response = json_error(error.code or 500, error.description or error.name)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response
    return render_template("error.html", status=error.code, message=error.description), error.code


def handle_unexpected_error(error: Exception):
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    if wants_json():
        return json_error(500, "internal error; it has been logged")
    return render_template("error.html", status=500, message="Internal error; it has been logged."), 500


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)
    app.after_request(add_security_headers)
