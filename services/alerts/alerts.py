"""Alert instances as SPEC §9 shows them: their body, listing, acknowledgement and history. The evaluation loop
(evaluator, lifecycle) is what moves them between states."""
import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import Alert, AlertTransition

STATES = ("pending", "firing", "recovering", "resolved", "nodata", "error")
# Receivers have heard, or will hear, "firing" for these; leaving them for any other state is a resolve.
FIRING_STATES = ("firing", "recovering")
ACKNOWLEDGEABLE = ("pending", "firing", "recovering")


class AlertStateError(ValueError):
    """An action the alert's current state does not allow."""


def fingerprint(labels: dict) -> str:
    """Alertmanager's identity of a label set: the same labels always give the same 16 hex digits."""
    text = "\xff".join(f"{name}\xff{labels[name]}" for name in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def as_dict(alert: Alert) -> dict:
    return {"id": alert.id, "rule_id": alert.rule_id, "rule_name": alert.rule_name, "fingerprint": alert.fingerprint,
            "state": alert.state, "severity": alert.severity, "labels": alert.labels,
            "annotations": alert.annotations, "value": alert.value, "threshold": alert.threshold,
            "message": alert.message, "started_at": stamp(alert.started_at), "state_since": stamp(alert.state_since),
            "fired_at": stamp(alert.fired_at), "resolved_at": stamp(alert.resolved_at),
            "acknowledged_by": alert.acknowledged_by, "acknowledged_at": stamp(alert.acknowledged_at),
            "silenced": alert.silenced, "flapping": alert.flapping}


def recent(session: Session, limit: int, state: str | None = None) -> list[Alert]:
    query = select(Alert).order_by(Alert.started_at.desc(), Alert.id.desc()).limit(limit)
    if state:
        query = query.where(Alert.state == state)
    return list(session.scalars(query))


def acknowledge(alert: Alert, username: str, now: datetime) -> None:
    """An admin takes ownership of a pending or firing alert: a flag, cleared when the instance resolves."""
    if alert.state not in ACKNOWLEDGEABLE:
        raise AlertStateError(f"alert {alert.id} is {alert.state}; only pending or firing alerts can be acknowledged")
    alert.acknowledged_by, alert.acknowledged_at = username, now


def history(session: Session, alert_id: int, limit: int) -> list[dict]:
    """The instance's transitions, newest first."""
    rows = session.scalars(select(AlertTransition).where(AlertTransition.alert_id == alert_id)
                           .order_by(AlertTransition.at.desc(), AlertTransition.id.desc()).limit(limit))
    return [{"at": stamp(row.at), "from_state": row.from_state, "to_state": row.to_state, "value": row.value,
             "reason": row.reason} for row in rows]
