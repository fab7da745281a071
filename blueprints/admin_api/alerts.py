"""Alerts as the dashboard lists and acknowledges them (the rule engine that raises them is a later issue)."""
from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from blueprints.admin_api import bp
from blueprints.http import ApiError, bounded_int, choice_arg, get_or_404, publish
from database import Alert, utcnow
from extensions import db
from services.accounts import audit

STATES = ("pending", "firing", "resolved", "acknowledged")


def stamp(moment) -> str | None:
    return moment.isoformat() if moment else None


def alert_as_dict(alert: Alert) -> dict:
    return {"id": alert.id, "rule_id": alert.rule_id, "state": alert.state, "severity": alert.severity,
            "labels": alert.labels, "value": alert.value, "message": alert.message,
            "started_at": stamp(alert.started_at), "resolved_at": stamp(alert.resolved_at),
            "acknowledged_by": alert.acknowledged_by, "acknowledged_at": stamp(alert.acknowledged_at)}


@bp.get("/alerts")
def list_alerts():
    query = select(Alert).order_by(Alert.started_at.desc(), Alert.id.desc()).limit(bounded_int("limit", 100, maximum=500))
    state = choice_arg("state", STATES)
    if state:
        query = query.where(Alert.state == state)
    return jsonify(alerts=[alert_as_dict(alert) for alert in db.session.scalars(query)])


@bp.post("/alerts/<int:alert_id>/ack")
def acknowledge_alert(alert_id: int):
    """An admin takes ownership of a pending or firing alert; every dashboard sees it at once."""
    alert = get_or_404(db.session, Alert, alert_id)
    if alert.state not in ("pending", "firing"):
        raise ApiError(409, f"alert {alert_id} is {alert.state}; only pending or firing alerts can be acknowledged")
    alert.state, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", current_user.username, utcnow()
    audit.record(db.session, current_user.username, "alert.ack", f"alert {alert_id}", {"rule_id": alert.rule_id},
                 request.remote_addr)
    db.session.commit()
    body = alert_as_dict(alert)
    publish("alert", [body])
    return jsonify(alert=body)
