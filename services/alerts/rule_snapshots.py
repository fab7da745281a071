"""The enabled rules as an evaluation pass reads them: plain values with their series query, kept between passes
and read again from the database only when a rule's row changed (its updated_at). Building 1,000 rule objects
with four JSON columns each, and their queries, was a third of a pass that reads nothing new."""
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from database import AlertRule
from services.alerts.series import SeriesError, SeriesQuery

# SQLite and PostgreSQL both take this many bound ids in one IN list comfortably.
LOAD_CHUNK = 500


@dataclass(frozen=True)
class RuleSnapshot:
    id: int
    name: str
    source: str
    metric: str
    filters: dict[str, Any]
    group_by: list[str]
    aggregation: str
    window_seconds: int
    comparator: str
    threshold: float
    recovery_threshold: float | None
    compare_offset_seconds: int | None
    for_seconds: int
    keep_firing_for_seconds: int
    severity: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    nodata_state: str
    error_state: str
    query: SeriesQuery | SeriesError  # the error a rule stored around the validator would meet
    # An instance's labels and fingerprint by its group's labels: the same every pass until the rule changes, when
    # a new snapshot starts with none.
    identities: dict[tuple, tuple[dict, str]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, rule: AlertRule) -> "RuleSnapshot":
        values = {item.name: getattr(rule, item.name) for item in fields(cls) if item.name not in ("query", "identities")}
        try:
            query: SeriesQuery | SeriesError = SeriesQuery.of(rule)
        except SeriesError as error:
            query = error
        return cls(**values, query=query)


class RuleSnapshots:
    def __init__(self) -> None:
        self.known: dict[int, tuple[datetime, RuleSnapshot]] = {}
        self.summary: tuple | None = None
        self.current: list[RuleSnapshot] = []

    def enabled(self, session: Session) -> list[RuleSnapshot]:
        """The enabled rules by id, each read again only if its row changed since the last call.

        One row tells whether anything changed at all (a pass runs every second or so, rules change rarely):
        a new, edited, enabled or disabled rule moves the newest updated_at, a deleted one the count and ids."""
        summary = tuple(session.execute(select(func.count(), func.max(AlertRule.updated_at), func.sum(AlertRule.id))
                                        .where(AlertRule.enabled.is_(True))).one())
        if summary != self.summary:
            self.current, self.summary = self._reread(session), summary
        return self.current

    def _reread(self, session: Session) -> list[RuleSnapshot]:
        stamps = session.execute(select(AlertRule.id, AlertRule.updated_at).where(AlertRule.enabled.is_(True))
                                 .order_by(AlertRule.id)).all()
        stale = [rule_id for rule_id, updated_at in stamps if self.known.get(rule_id, (None,))[0] != updated_at]
        for start in range(0, len(stale), LOAD_CHUNK):
            for rule in session.scalars(select(AlertRule).where(AlertRule.id.in_(stale[start:start + LOAD_CHUNK]))):
                self.known[rule.id] = (rule.updated_at, RuleSnapshot.of(rule))
        current = {rule_id for rule_id, _ in stamps}
        for rule_id in self.known.keys() - current:
            del self.known[rule_id]
        return [self.known[rule_id][1] for rule_id, _ in stamps]
