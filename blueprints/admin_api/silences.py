"""Silences (SPEC §9): thin views over services.alerts.silences, admin-only writes, each audited; the instances a
change mutes or unmutes are pushed at once, so no dashboard waits for the next evaluation to show it."""
from datetime import datetime

from flask import jsonify
from flask_login import current_user

from blueprints.admin_api import bp
from blueprints.audit_trail import record_event
from blueprints.http import ApiError, bounded_int, choice_arg, get_or_404, json_body, publish
from database import Silence, utcnow
from extensions import db
from services.alerts import alerts, silences


@bp.get("/silences")
def list_silences():
    now = utcnow()
    found = silences.listing(db.session, now, choice_arg("status", silences.STATUSES),
                             bounded_int("limit", 100, maximum=500))
    return jsonify(silences=[silences.as_dict(silence, now) for silence in found])


@bp.post("/silences")
def create_silence():
    now = utcnow()
    try:
        fields = silences.read_fields(json_body().payload, now)
    except silences.SilenceError as error:
        raise ApiError(422, str(error), {"field": error.field}) from None
    silence = silences.create(db.session, fields, current_user.username)
    return audit_and_push(silence, now, "silence.create"), 201


@bp.get("/silences/<int:silence_id>")
def get_silence(silence_id: int):
    return jsonify(silence=silences.as_dict(get_or_404(db.session, Silence, silence_id), utcnow()))


@bp.delete("/silences/<int:silence_id>")
def expire_silence(silence_id: int):
    silence = get_or_404(db.session, Silence, silence_id)
    now = utcnow()
    try:
        silences.expire(silence, now)
    except silences.SilenceStateError as error:
        raise ApiError(409, str(error)) from None
    return audit_and_push(silence, now, "silence.expire")


def audit_and_push(silence: Silence, now: datetime, action: str):
    """Audit the change (which commits), then push every instance whose silenced flag it turned."""
    body = silences.as_dict(silence, now)
    turned = [alerts.as_dict(alert) for alert in silences.apply(db.session, now)]
    record_event(action, f"silence {silence.id}", {"matchers": silence.matchers, "ends_at": body["ends_at"],
                                                   "instances": len(turned)})
    publish("alert", [instance | {"previous_state": instance["state"]} for instance in turned])
    return jsonify(silence=body)
