"""Firing periods of alert instances over a time range, from their transitions: what the dashboard's time charts
draw as bands. A period starts when an instance enters "firing" and ends when it leaves firing/recovering."""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import Alert, AlertRule, AlertTransition
from services.alerts.alerts import FIRING_STATES, stamp


def firing_periods(session: Session, since: datetime, until: datetime) -> list[dict]:
    """Each firing period overlapping [since, until], oldest first; `end` is None while it still fires at `until`."""
    transitions = session.execute(
        select(AlertTransition.alert_id, AlertTransition.at, AlertTransition.from_state, AlertTransition.to_state)
        .where(AlertTransition.at > since).order_by(AlertTransition.alert_id, AlertTransition.at, AlertTransition.id)).all()
    moves: dict[int, list] = {}
    for move in transitions:
        moves.setdefault(move.alert_id, []).append(move)
    # The state at `since` is what the first later transition left; an instance with none is still in it.
    steady = session.scalars(select(Alert.id).where(Alert.state.in_(FIRING_STATES))).all()
    firing_at_since = {alert_id for alert_id in steady if alert_id not in moves}
    firing_at_since.update(alert_id for alert_id, rows in moves.items() if rows[0].from_state in FIRING_STATES)
    spans = []
    for alert_id in firing_at_since | moves.keys():
        spans.extend((alert_id, start, end) for start, end in
                     spans_of(moves.get(alert_id, []), since if alert_id in firing_at_since else None, until))
    return describe(session, sorted(spans, key=lambda span: (span[1], span[0])))


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


def describe(session: Session, spans: list[tuple[int, datetime, datetime | None]]) -> list[dict]:
    """The periods with their instance's rule, labels and severity; the rule's source and metric say which chart
    shows its series (None once the rule is deleted)."""
    ids = {alert_id for alert_id, _, _ in spans}
    rows = session.execute(select(Alert.id, Alert.rule_id, Alert.rule_name, Alert.severity, Alert.labels,
                                  AlertRule.source, AlertRule.metric)
                           .outerjoin(AlertRule, AlertRule.id == Alert.rule_id).where(Alert.id.in_(ids))).all()
    by_id = {row.id: row for row in rows}
    return [period(by_id[alert_id], start, end) for alert_id, start, end in spans]


def period(row, start: datetime, end: datetime | None) -> dict:
    return {"alert_id": row.id, "rule_id": row.rule_id, "rule_name": row.rule_name, "source": row.source,
            "metric": row.metric, "severity": row.severity, "labels": row.labels, "start": stamp(start), "end": stamp(end)}
