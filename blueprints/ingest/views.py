from flask import current_app, g, jsonify, request

from blueprints.http import ApiError, let_pushes_leave, read_json, runtime
from blueprints.ingest import bp
from database import utcnow
from extensions import csrf, db, limiter
from services.accounts import api_keys
from services.ingest import event_schema

csrf.exempt(bp)


def ingest_limit() -> str:
    return current_app.config["INGEST_RATE_LIMIT"]


def api_key_identity() -> str:
    return "api-key:" + g.get("api_key_id", request.remote_addr or "")


@bp.before_request
def require_api_key():
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "send an API key: Authorization: Bearer <key>")
    # Through the breaker: while the database is down, senders get their 503 at once instead of after a timeout.
    record = runtime().breaker.call(api_keys.find_active_api_key, db.session, key.strip())
    if record is None:
        raise ApiError(401, "unknown or revoked API key")
    g.api_key_id, g.api_key_name = str(record.id), record.name
    api_keys.touch_api_key(db.session, record, utcnow())


@bp.post("/events")
@limiter.limit(ingest_limit, key_func=api_key_identity)
def events():
    payload = read_json(exact_decimals=True)
    try:
        event_schema.check_batch_shape(payload)
    except event_schema.BatchError as error:
        raise ApiError(error.status, str(error)) from None
    rows, errors = event_schema.parse_batch(payload, utcnow())
    stored = runtime().ingest_writer.store(db.session, rows)
    db.session.commit()  # the API key's last use, when another request or the writer process stored the batch
    runtime().announce_ingested(stored, errors)
    let_pushes_leave()
    accepted = sum(len(items) for items in rows.values())
    return jsonify(accepted=accepted, rejected=len(errors), errors=errors), 202
