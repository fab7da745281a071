"""Alerts as the dashboard lists and acknowledges them; the rules that raise them are the alerts issue's engine."""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import Alert

STATES = ("pending", "firing", "resolved", "acknowledged")
ACKNOWLEDGEABLE = ("pending", "firing")


class AlertStateError(ValueError):
    """An action the alert's current state does not allow."""


def stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def as_dict(alert: Alert) -> dict:
    return {"id": alert.id, "rule_id": alert.rule_id, "state": alert.state, "severity": alert.severity,
            "labels": alert.labels, "value": alert.value, "message": alert.message,
            "started_at": stamp(alert.started_at), "resolved_at": stamp(alert.resolved_at),
            "acknowledged_by": alert.acknowledged_by, "acknowledged_at": stamp(alert.acknowledged_at)}


def recent(session: Session, limit: int, state: str | None = None) -> list[Alert]:
    query = select(Alert).order_by(Alert.started_at.desc(), Alert.id.desc()).limit(limit)
    if state:
        query = query.where(Alert.state == state)
    return list(session.scalars(query))


def acknowledge(alert: Alert, username: str, now: datetime) -> None:
    """An admin takes ownership of a pending or firing alert."""
    if alert.state not in ACKNOWLEDGEABLE:
        raise AlertStateError(f"alert {alert.id} is {alert.state}; only pending or firing alerts can be acknowledged")
    alert.state, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", username, now
