"""The rules a new installation starts with (the alerts issue's four), installed once and editable after.

Installing them writes an audit entry; that entry is how a later start knows they were offered already, so a
rule an admin deleted does not come back."""
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from database import AuditEntry
from services.accounts import audit
from services.alerts import rules

ACTION = "alert_rule.defaults"
ACTOR = "pulseboard"
# An idle server has no requests and no sales: for those rules, no data is no problem.
DEFAULT_RULES = [
    {"name": "High CPU", "source": "host", "metric": "cpu", "aggregation": "avg", "group_by": ["host"],
     "window_seconds": 60, "comparator": ">", "threshold": 90, "for_seconds": 60, "severity": "critical",
     "annotations": {"summary": "CPU at {{ $value }} % on {{ $labels.host }}",
                     "description": "The host's CPU averaged over 90 % for a minute."}},
    {"name": "High error rate", "source": "endpoint", "metric": "error_rate", "window_seconds": 120,
     "comparator": ">", "threshold": 0.05, "for_seconds": 120, "severity": "critical", "nodata_state": "ok",
     "annotations": {"summary": "{{ $value }} of requests fail (server errors)",
                     "description": "More than 5 % of the panel's requests answered 5xx for two minutes."}},
    {"name": "Slow requests", "source": "endpoint", "metric": "p95", "window_seconds": 120, "comparator": ">",
     "threshold": 1000, "for_seconds": 120, "severity": "warning", "nodata_state": "ok",
     "annotations": {"summary": "p95 latency {{ $value }} ms",
                     "description": "The 95th percentile of request time stayed above 1 s for two minutes."}},
    {"name": "Failing transactions", "source": "business", "metric": "failure_rate", "window_seconds": 300,
     "comparator": ">", "threshold": 0.2, "for_seconds": 300, "severity": "critical", "nodata_state": "ok",
     "annotations": {"summary": "{{ $value }} of transactions fail",
                     "description": "More than 20 % of settled transactions failed over five minutes."}},
]


def install_once(session: Session) -> list:
    """Create the default rules unless they were offered before; returns the rules created. Callers commit."""
    if session.scalar(select(exists().where(AuditEntry.action == ACTION))):
        return []
    created = [rules.create_rule(session, rules.read_fields(body, partial=False), ACTOR) for body in DEFAULT_RULES]
    audit.record(session, ACTOR, ACTION, "alert rules", {"names": [rule.name for rule in created]})
    return created
