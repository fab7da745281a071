"""A rule evaluated now, changing nothing and notifying nobody: per label set, the value and the state an instance
would enter from normal (SPEC §9's `preview`). The lifecycle over time (for, keep_firing_for, recovery) is the
evaluation loop's; a preview answers only "what would this rule say right now"."""
import operator
from datetime import datetime

from sqlalchemy.orm import Session

from services.alerts import series

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
# What a window without points counts as, by the rule's nodata_state.
NODATA = {"nodata": "nodata", "firing": "firing", "ok": "normal"}


def state_now(rule: dict, value: float | None) -> str:
    """`normal` when the condition does not hold, else `pending` (it must hold for for_seconds) or `firing`."""
    if value is None:
        return NODATA[rule["nodata_state"]]
    if not COMPARE[rule["comparator"]](value, rule["threshold"]):
        return "normal"
    return "pending" if rule["for_seconds"] else "firing"


def instance_labels(rule: dict, group: dict) -> dict:
    """The labels an instance carries: the rule's, its group's, and alertname and severity (as Alertmanager's)."""
    return {**rule["labels"], **group, "alertname": rule["name"], "severity": rule["severity"]}


def preview(session: Session, runtime, rule: dict, now: datetime) -> list[dict]:
    """Each label set's value (with `current` and `past` when the rule compares with the past) and state."""
    return [{"labels": instance_labels(rule, found.labels), "value": found.value, "current": found.current,
             "past": found.past, "state": state_now(rule, found.value)}
            for found in series.evaluate(session, runtime, series.SeriesQuery.of(rule), now)]
