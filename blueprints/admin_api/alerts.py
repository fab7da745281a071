"""Alerts as the dashboard lists them (the rule engine that raises them is a later issue)."""
from flask import jsonify
from sqlalchemy import select

from blueprints.admin_api import bp
from blueprints.http import bounded_int, choice_arg
from database import Alert
from extensions import db

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
