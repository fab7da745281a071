"""Firing periods from alert transitions (services/alerts/periods.py), on an in-memory database with no app."""
from datetime import UTC, datetime, timedelta

import pytest

from database import Alert, AlertRule, AlertTransition
from services.alerts.periods import firing_periods

SINCE = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=1)


def at(minute: int) -> datetime:
    return SINCE + timedelta(minutes=minute)


def add_rule(session, source="host", metric="cpu") -> AlertRule:
    rule = AlertRule(name=f"{metric} high", source=source, metric=metric, comparator=">", threshold=90.0)
    session.add(rule)
    session.flush()
    return rule


def add_alert(session, rule, moves, state=None) -> Alert:
    """An instance of `rule` with transitions (minute, from_state, to_state); its state is where they lead."""
    alert = Alert(rule_id=rule.id if rule else None, rule_name=rule.name if rule else "gone",
                  state=state or moves[-1][2], severity="critical", labels={"alertname": "cpu high", "host": "web-1"})
    session.add(alert)
    session.flush()
    session.add_all(AlertTransition(alert_id=alert.id, at=at(minute), from_state=before, to_state=after)
                    for minute, before, after in moves)
    session.flush()
    return alert


def minute_of(stamp: str | None) -> float | None:
    return None if stamp is None else (datetime.fromisoformat(stamp) - SINCE) / timedelta(minutes=1)


def spans(periods) -> list[tuple]:
    return [(minute_of(period["start"]), minute_of(period["end"])) for period in periods]


@pytest.mark.parametrize(("moves", "expected"), [
    pytest.param([(5, "pending", "firing")], [(5, None)], id="fires-inside"),
    pytest.param([(-5, "pending", "firing")], [(0, None)], id="already-firing-starts-at-since"),
    pytest.param([(-10, "pending", "firing"), (10, "firing", "resolved")], [(0, 10)], id="already-firing-then-resolves"),
    pytest.param([(5, "pending", "firing"), (10, "firing", "recovering"), (12, "recovering", "resolved")], [(5, 12)],
                 id="recovering-still-fires"),
    pytest.param([(5, "pending", "firing"), (10, "firing", "recovering"), (11, "recovering", "firing"),
                  (20, "firing", "resolved")], [(5, 20)], id="back-to-firing-is-one-period"),
    pytest.param([(5, "pending", "firing"), (10, "firing", "resolved"), (20, "resolved", "pending"),
                  (25, "pending", "firing")], [(5, 10), (25, None)], id="two-episodes"),
    pytest.param([(5, "resolved", "pending"), (8, "pending", "resolved")], [], id="pending-that-never-fired"),
    pytest.param([(5, "pending", "firing"), (10, "firing", "nodata")], [(5, 10)], id="nodata-ends-it"),
    pytest.param([(5, "pending", "firing"), (10, "firing", "error")], [(5, 10)], id="error-ends-it"),
    pytest.param([(-10, "pending", "firing"), (-5, "firing", "resolved")], [], id="ended-before-since"),
    pytest.param([(5, "pending", "firing"), (70, "firing", "resolved")], [(5, None)], id="ends-after-until"),
    pytest.param([(70, "firing", "resolved")], [(0, None)], id="firing-all-through-the-range"),
    pytest.param([(0, "pending", "firing")], [(0, None)], id="fires-exactly-at-since"),
    pytest.param([(5, "nodata", "firing"), (6, "firing", "nodata"), (7, "nodata", "firing")], [(5, 6), (7, None)],
                 id="flapping"),
])
def test_periods_follow_the_transitions(db_session, moves, expected):
    add_alert(db_session, add_rule(db_session), moves)
    assert spans(firing_periods(db_session, SINCE, UNTIL)) == expected


@pytest.mark.parametrize(("state", "expected"), [("firing", [(0, None)]), ("recovering", [(0, None)]),
                                                 ("resolved", []), ("pending", [])])
def test_an_instance_without_transitions_in_the_range_keeps_its_state(db_session, state, expected):
    add_alert(db_session, add_rule(db_session), [(-30, "pending", state)])
    assert spans(firing_periods(db_session, SINCE, UNTIL)) == expected


def test_periods_name_the_rule_source_and_labels_oldest_first(db_session):
    host = add_alert(db_session, add_rule(db_session), [(20, "pending", "firing")])
    endpoint = add_alert(db_session, add_rule(db_session, "endpoint", "p95"),
                         [(5, "pending", "firing"), (15, "firing", "resolved")])
    orphan = add_alert(db_session, None, [(30, "pending", "firing")])
    periods = firing_periods(db_session, SINCE, UNTIL)
    assert [(p["alert_id"], p["source"], p["metric"]) for p in periods] == [
        (endpoint.id, "endpoint", "p95"), (host.id, "host", "cpu"), (orphan.id, None, None)]
    assert periods[0] == {"alert_id": endpoint.id, "rule_id": endpoint.rule_id, "rule_name": "p95 high",
                          "source": "endpoint", "metric": "p95", "severity": "critical",
                          "labels": {"alertname": "cpu high", "host": "web-1"},
                          "start": at(5).isoformat(), "end": at(15).isoformat()}


def test_no_alerts_no_periods(db_session):
    assert firing_periods(db_session, SINCE, UNTIL) == []
