"""Alert instances: listed, acknowledged and their history; thin views over services.alerts.alerts."""
from flask import jsonify
from flask_login import current_user

from blueprints.admin_api import bp
from blueprints.admin_api.reads import answer
from blueprints.audit_trail import record_event
from blueprints.http import ApiError, bounded_int, choice_arg, get_or_404, publish
from database import Alert, utcnow
from extensions import db
from services.alerts import alerts
from services.dashboard import reads


@bp.get("/alerts")
def list_alerts():
    found = alerts.recent(db.session, bounded_int("limit", 100, maximum=500), choice_arg("state", alerts.STATES))
    return jsonify(alerts=[alerts.as_dict(alert) for alert in found])


@bp.get("/alerts/periods")
def alert_periods():
    """Firing periods in the last `minutes`: the dashboard's time charts draw them as bands."""
    return answer(reads.ALERT_PERIODS, minutes=bounded_int("minutes", 60, maximum=1440))


@bp.get("/alerts/<int:alert_id>/history")
def alert_history(alert_id: int):
    limit = bounded_int("limit", 200, maximum=1000)  # a bad parameter is named even for an unknown alert
    alert = get_or_404(db.session, Alert, alert_id)
    return jsonify(alert=alerts.as_dict(alert), history=alerts.history(db.session, alert_id, limit))


@bp.post("/alerts/<int:alert_id>/ack")
def acknowledge_alert(alert_id: int):
    """Every dashboard sees the acknowledgement at once: an `alert` push whose state did not change."""
    alert = get_or_404(db.session, Alert, alert_id)
    if alert.acknowledged_by:
        raise ApiError(409, f"alert {alert_id} is already acknowledged by {alert.acknowledged_by}")
    try:
        alerts.acknowledge(alert, current_user.username, utcnow())
    except alerts.AlertStateError as error:
        raise ApiError(409, str(error)) from None
    body = alerts.as_dict(alert)  # before the commit expires the row, which would cost a re-read
    record_event("alert.ack", f"alert {alert_id}", {"rule_id": alert.rule_id})
    publish("alert", [body | {"previous_state": body["state"]}])
    return jsonify(alert=body)
