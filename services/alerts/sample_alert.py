"""A realistic alert for a receiver's test (`POST /receivers/<id>/test`): real labels and values, so an admin sees
what their endpoint will get. The first of: an instance firing now; an enabled rule evaluated now (its first label
set with a value); this host's latest CPU sample as a "PulseboardTest" alert."""
from datetime import datetime

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import Alert, AlertRule, HostSample
from services.alerts import alerts, preview, rules, series
from services.alerts.alerts import FIRING_STATES, fingerprint, stamp

TEST_NOTE = "A test notification from Pulseboard's receiver settings; nothing needs doing."
RULES_TRIED = 5  # enabled rules evaluated at most, so that a test answers quickly whatever the rule count


def sample(session: Session, runtime, now: datetime) -> dict:
    """An instance body (as services.alerts.alerts.as_dict), firing, with a `test` annotation saying what it is."""
    alert = firing_instance(session) or evaluated_rule(session, runtime, now) or host_cpu(session, runtime, now)
    return alert | {"annotations": {**alert["annotations"], "test": TEST_NOTE}}


def firing_instance(session: Session) -> dict | None:
    found = session.scalars(select(Alert).where(Alert.state.in_(FIRING_STATES))
                            .order_by(Alert.started_at.desc()).limit(1)).first()
    return alerts.as_dict(found) if found else None


def evaluated_rule(session: Session, runtime, now: datetime) -> dict | None:
    enabled = select(AlertRule).where(AlertRule.enabled.is_(True)).order_by(AlertRule.id).limit(RULES_TRIED)
    for rule in map(rules.as_dict, session.scalars(enabled).all()):
        try:
            valued = [found for found in preview.preview(session, runtime, rule, now) if found["value"] is not None]
        except series.SeriesError:  # a rule saved before its source's series changed
            continue
        if valued:
            value = valued[0]["value"]
            summary = f"{rule['name']}: {rule['metric']} is {value:g} (threshold {rule['comparator']} {rule['threshold']:g})"
            return firing_body(now, valued[0]["labels"], value, rule["threshold"], summary,
                               rule_id=rule["id"], rule_name=rule["name"], severity=rule["severity"])
    return None


def host_cpu(session: Session, runtime, now: datetime) -> dict:
    latest = session.scalars(select(HostSample).where(HostSample.host == runtime.host)
                             .order_by(HostSample.taken_at.desc()).limit(1)).first()
    value = latest.cpu_percent if latest else psutil.cpu_percent(interval=0.1)
    labels = {"alertname": "PulseboardTest", "severity": "info", "host": runtime.host}
    return firing_body(now, labels, value, None, f"CPU of {runtime.host} at {value:.1f} %",
                       rule_id=None, rule_name="PulseboardTest", severity="info")


def firing_body(now: datetime, labels: dict, value: float, threshold: float | None, summary: str, **rule) -> dict:
    """An instance body for a label set that is no stored instance (so no id), firing since now."""
    return {"id": None, **rule, "fingerprint": fingerprint(labels), "state": "firing", "labels": labels,
            "annotations": {"summary": summary}, "value": value, "threshold": threshold, "message": summary,
            "started_at": stamp(now), "state_since": stamp(now), "fired_at": stamp(now), "resolved_at": None,
            "acknowledged_by": None, "acknowledged_at": None, "silenced": False, "flapping": False}
