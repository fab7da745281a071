"""Firing periods of alert instances over a time range, from their transitions: what the dashboard's time charts
draw as bands. A period starts when an instance enters "firing" and ends when it leaves firing/recovering."""
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from database import Alert, AlertRule, AlertTransition
from services.alerts.alerts import FIRING_STATES, stamp


def firing_periods(session: Session, since: datetime, until: datetime) -> list[dict]:
    """Each firing period overlapping [since, until], oldest first; `end` is None while it still fires at `until`."""
    moves: dict[int, list] = {}
    for move in session.execute(
            select(AlertTransition.alert_id, AlertTransition.at, AlertTransition.from_state, AlertTransition.to_state)
            .where(AlertTransition.at > since).order_by(AlertTransition.alert_id, AlertTransition.at, AlertTransition.id)):
        moves.setdefault(move.alert_id, []).append(move)
    moved = select(AlertTransition.alert_id).where(AlertTransition.at > since)
    instances = session.execute(
        select(Alert.id, Alert.state, Alert.rule_id, Alert.rule_name, Alert.severity, Alert.labels, AlertRule.source,
               AlertRule.metric).outerjoin(AlertRule, AlertRule.id == Alert.rule_id)
        .where(or_(Alert.state.in_(FIRING_STATES), Alert.id.in_(moved)))).all()
    spans = []
    for instance in instances:
        history = moves.get(instance.id, [])
        # The state at `since` is what the first later transition left; an instance with none is still in it.
        firing_at_since = (history[0].from_state if history else instance.state) in FIRING_STATES
        spans.extend((start, end, instance) for start, end in spans_of(history, since if firing_at_since else None, until))
    spans.sort(key=lambda span: (span[0], span[2].id))
    return [period(instance, start, end) for start, end, instance in spans]


def spans_of(moves: list, open_since: datetime | None, until: datetime) -> list[tuple[datetime, datetime | None]]:
    """(start, end) of each firing span in one instance's transitions up to `until`, given when one is already open."""
    spans, start = [], open_since
    for move in moves:
        if move.at > until:
            break
        if start is None and move.to_state == "firing":
            start = move.at
        elif start is not None and move.from_state in FIRING_STATES and move.to_state not in FIRING_STATES:
            spans.append((start, move.at))
            start = None
    if start is not None:
        spans.append((start, None))
    return spans


def period(instance, start: datetime, end: datetime | None) -> dict:
    """A period with its instance's rule, labels and severity; the rule's source and metric say which chart shows
    its series (None once the rule is deleted)."""
    return {"alert_id": instance.id, "rule_id": instance.rule_id, "rule_name": instance.rule_name,
            "source": instance.source, "metric": instance.metric, "severity": instance.severity,
            "labels": instance.labels, "start": stamp(start), "end": stamp(end)}
