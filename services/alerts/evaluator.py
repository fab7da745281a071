"""The evaluation loop's pass: every enabled rule read once, its instances moved through the lifecycle, and
everything that follows from a change — history, silences, flapping, notifications, webhooks, pushes.

One process runs it (`is_evaluator` is the seam the cluster setup decides with; in a cluster the leader's writes
also carry its fencing token, which the database checks: see services/alerts/fence.py). A pass reads rollups and
in-process histograms through one `series.Reads`, so rules on the same series share a read, and custom metrics
come from a history kept between passes that reloads only the buckets that changed. It commits its own work
before publishing, so no dashboard is told of a state the database does not hold.
"""
import logging
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from database import Alert, AlertTransition, utcnow
from services.alerts import alerts, delivery, lifecycle, notifications, series, silences
from services.alerts.fence import Fence, claim
from services.alerts.preview import instance_labels
from services.alerts.rule_snapshots import RuleSnapshot, RuleSnapshots
from services.runtime.process import DATABASE_FAILURES

log = logging.getLogger(__name__)
TEMPLATE_FIELD = re.compile(r"\{\{\s*\$?(value|threshold|labels\.([A-Za-z_][A-Za-z0-9_]*))\s*\}\}")
# Under eventlet a pass shares the process with every push: it lets them through this often (a few ms of work).
RULES_BETWEEN_PAUSES = 25
NOTIFICATION_LEVELS = {"firing": {"critical": "error", "warning": "warning", "info": "info"}, "resolved": "success"}


@dataclass
class PassReport:
    """What one pass did; the benchmark and the tests read it."""
    rules: int = 0
    changes: list[tuple[Alert, str]] = field(default_factory=list)  # (instance, previous state)
    notifications: list[dict] = field(default_factory=list)
    deliveries: int = 0


@dataclass(frozen=True)
class Settings:
    flap_changes: int
    flap_window: timedelta
    config: Mapping  # the app's settings, for the links deliveries carry (EXTERNAL_URL, HOST, PORT)

    @classmethod
    def of(cls, config: Mapping) -> "Settings":
        return cls(config["ALERT_FLAP_CHANGES"], timedelta(seconds=config["ALERT_FLAP_WINDOW_SECONDS"]), config)


class Evaluator:
    """The loop's job: run a pass if this process is the evaluator, commit it, then tell dashboards and the
    delivery worker."""

    def __init__(self, runtime, settings: Settings, clock: Callable[[], datetime] = utcnow,
                 is_evaluator: Callable[[], bool] = lambda: True, wake_delivery: Callable[[], None] = lambda: None,
                 pause: Callable[[], None] = lambda: None, slices: int = 1,
                 fence: Fence | None = None):
        self.runtime, self.settings, self.clock = runtime, settings, clock
        self.is_evaluator, self.wake_delivery = is_evaluator, wake_delivery
        # In a cluster, the leader lease's side of the fence; None for a process alone, which has no other leader to
        # fence off and pays no extra write.
        self.fence = fence
        self.rules = RuleSnapshots()
        self.slices, self.turn = max(1, slices), 0
        # One history per slice: each slice reads its own metrics, and a history keeps what its rules read.
        self.histories = [series.MetricHistory() for _ in range(self.slices)]
        self.sliced_from: list[RuleSnapshot] | None = None
        self.by_slice: list[list[RuleSnapshot]] = []
        self.enabled_ids: set[int] = set()
        self.pause = pause

    def run(self, session: Session) -> PassReport | None:
        """One pass over the next slice of the rules, committed, then published; None when another process is the
        evaluator or the database refused its fencing token. Called `slices` times per interval, it evaluates every
        rule once per interval."""
        # Taken before the check, as the broadcaster does: a pass that outlives its holding carries that holding's token.
        fence = self.fence.for_pass(session) if self.fence is not None else None
        if not self.is_evaluator() or (self.fence is not None and fence is None):
            return None
        turn, self.turn = self.turn, (self.turn + 1) % self.slices
        enabled = self.rules.enabled(session)
        if enabled is not self.sliced_from:  # the same list while no rule changed
            self.sliced_from, self.enabled_ids = enabled, {rule.id for rule in enabled}
            self.by_slice = [[] for _ in range(self.slices)]
            for rule in enabled:
                self.by_slice[slice_of(rule, self.slices)].append(rule)
        report = evaluate_all(session, self.runtime, self.settings, self.clock(), self.by_slice[turn], self.pause,
                              self.histories[turn], self.enabled_ids, fence)
        self.histories[turn].end_pass()
        if report is None:  # a newer leader has written: this pass is dropped whole
            session.rollback()
            self.fence.recheck()  # if this process still leads, Redis lost the counter: the next pass raises it
            return None
        pushes = alert_pushes(report.changes)  # before the commit expires the rows, which would cost a read each
        # A pass that outlived its lease (a pause, a slow pass) is dropped here cheaply, and the new leader's next pass
        # does the work. The lease can still lapse between this check and the commit; the database keeps that safe:
        # the fence row this pass claimed holds a newer leader's write stretch until this commit (which it then
        # reads), and a claim that comes after a newer leader's is refused (`fence.claim`).
        if not self.is_evaluator():
            session.rollback()
            return None
        session.commit()
        publish(self.runtime, pushes, report.notifications)
        if report.deliveries:
            self.wake_delivery()
        return report


def slice_of(rule: RuleSnapshot, slices: int) -> int:
    """The slice a rule is evaluated in: rules that share reads share a slice — those on one custom metric, and
    all host, all endpoint or all business rules (each source's figures come from one read)."""
    series_key = f"metric\0{rule.metric}" if rule.source == "metric" else rule.source
    return zlib.crc32(series_key.encode()) % slices


def evaluate_all(session: Session, runtime, settings: Settings, now: datetime, rules: list[RuleSnapshot],
                 pause: Callable[[], None] = lambda: None, history: series.MetricHistory | None = None,
                 enabled_ids: set[int] | None = None, fence: int | None = None) -> PassReport | None:
    """Read every rule's series first, letting other work through between rules (reads hold no lock), then move
    the instances and write it all in one stretch: a pass that paused while holding SQLite's write lock would
    leave every other writer waiting in C, where eventlet cannot switch, and the pass could never resume.

    `rules` may be one slice of the enabled rules (`enabled_ids`, all of them by default): the instances of the
    other slices' rules are left to their own passes; those of rules no longer enabled are reset by any pass.

    With a `fence` (a cluster leader's token) the write stretch starts by claiming the fence row; None when the
    database refuses it, with nothing written. The caller commits, or rolls back."""
    report = PassReport(rules=len(rules))
    readings = read_all(session, runtime, rules, now, pause, history)
    # End the reads' transaction: SQLite (WAL) refuses to make a write of a read begun before another commit.
    session.rollback()
    if fence is not None and not claim(session, fence):
        return None
    open_instances: dict[int | None, dict[str, Alert]] = defaultdict(dict)
    # The open instances, and those whose receivers last heard "firing" (owed_resolved), in one read.
    loaded = list(session.scalars(select(Alert).where(or_(Alert.state != "resolved", Alert.notified_state == "firing"))))
    for instance in loaded:
        if instance.state != "resolved":
            open_instances[instance.rule_id][instance.fingerprint] = instance
    muting = silences.active(session, now)
    touched: list[Alert] = []
    for rule in rules:
        touched += evaluate_rule(session, rule, readings[rule.id], open_instances.pop(rule.id, {}), now, report)
    for rule_id in enabled_ids or ():
        open_instances.pop(rule_id, None)  # another slice's
    for orphans in open_instances.values():  # their rule was disabled or deleted since the last pass
        for instance in orphans.values():
            previous = instance.state
            _record(session, instance, previous, lifecycle.reset(instance, now, "rule disabled or deleted"), now, report)
            touched.append(instance)
    flags = {id(instance): (instance.silenced, instance.flapping) for instance in touched}
    for instance in touched:
        instance.silenced = silences.silenced(instance.labels, muting)
    changed = {id(instance) for instance, _ in report.changes}
    # Only an instance that just changed can start flapping, and only a flapping one can stop.
    update_flapping(session, [instance for instance in touched if id(instance) in changed or instance.flapping],
                    settings, now)
    report.changes += [(instance, instance.state) for instance in touched  # a mark changed, not the state
                       if id(instance) not in changed and flags[id(instance)] != (instance.silenced, instance.flapping)]
    notify(session, touched + owed_resolved(loaded, touched), settings, now, report)
    return report


def read_all(session: Session, runtime, rules: list[RuleSnapshot], now: datetime, pause: Callable[[], None],
             history: series.MetricHistory | None) -> dict[int, "Readings"]:
    """Every rule's readings, with pauses for other work between rules."""
    reads = series.Reads(session, runtime, [rule.query for rule in rules if isinstance(rule.query, series.SeriesQuery)],
                         history, now)
    readings = {}
    for index, rule in enumerate(rules, start=1):
        readings[rule.id] = read_rule(session, rule, reads, now)
        if index % RULES_BETWEEN_PAUSES == 0:
            pause()
    return readings


def evaluate_rule(session: Session, rule: RuleSnapshot, readings: "Readings", known: dict[str, Alert], now: datetime,
                  report: PassReport) -> list[Alert]:
    """Move the rule's instances for what its series read; return every instance it touched."""
    for fingerprint, instance in known.items():
        # A label set that has left a grouped series has no points: it is nodata (or what nodata counts as).
        readings.setdefault(fingerprint, (instance.labels, lifecycle.Reading()))
    touched = []
    for fingerprint, (labels, reading) in readings.items():
        instance = known.get(fingerprint)
        if instance is None:
            if lifecycle.outcome(rule, None, reading) is False:
                continue  # normal and never seen: nothing to keep
            instance = _instance_for(session, rule, labels, fingerprint)
        previous = instance.state
        reason = lifecycle.advance(instance, rule, reading, now)
        _refresh(instance, rule, reading)
        session.add(instance)
        _record(session, instance, previous, reason, now, report)
        touched.append(instance)
    return touched


Readings = dict[str, tuple[dict, lifecycle.Reading]]


def read_rule(session: Session, rule: RuleSnapshot, reads: series.Reads, now: datetime) -> Readings:
    """{fingerprint: (labels, reading)}; a rule whose series cannot be read is one `error` reading."""
    try:
        if isinstance(rule.query, series.SeriesError):
            raise rule.query
        found = [(value.labels, lifecycle.Reading(value.value))
                 for value in series.evaluate(session, reads.runtime, rule.query, now, reads)]
    except DATABASE_FAILURES:
        raise  # the whole pass fails and the job retries: an outage is not every rule's error
    except Exception as error:  # one broken rule must not stop the others
        log.warning("alert rule %s could not be evaluated: %s", rule.id, error)
        found = [({}, lifecycle.Reading(failed=str(error)[:200]))]
    result = {}
    for group, reading in found:
        key = tuple(sorted(group.items()))
        if key not in rule.identities:
            labels = instance_labels(_rule_fields(rule), group)
            rule.identities[key] = (labels, alerts.fingerprint(labels))
        labels, fingerprint = rule.identities[key]
        result[fingerprint] = (labels, reading)
    return result


def _rule_fields(rule: RuleSnapshot) -> dict:
    return {"labels": rule.labels or {}, "name": rule.name, "severity": rule.severity}


def _instance_for(session: Session, rule: RuleSnapshot, labels: dict, fingerprint: str) -> Alert:
    """The label set's instance from an earlier episode, or a new one (without a state until `advance` gives it
    one, and added to the session only then, so no flush meets it half made)."""
    instance = session.scalar(select(Alert).where(Alert.rule_id == rule.id, Alert.fingerprint == fingerprint))
    return instance or Alert(rule_id=rule.id, fingerprint=fingerprint, labels=labels, state=None, silenced=False,
                             flapping=False)


def _refresh(instance: Alert, rule: RuleSnapshot, reading: lifecycle.Reading) -> None:
    # Only what changed is written: an unchanged instance costs its pass no UPDATE.
    instance.rule_name, instance.severity, instance.threshold = rule.name, rule.severity, rule.threshold
    instance.value = reading.value
    instance.annotations = {name: render(template, instance.labels, reading.value, rule.threshold)
                            for name, template in (rule.annotations or {}).items()}
    instance.message = instance.annotations.get("summary") or _default_message(rule, reading)


def _default_message(rule: RuleSnapshot, reading: lifecycle.Reading) -> str:
    if reading.kind == "error":
        return f"{rule.name}: evaluation failed: {reading.failed}"
    if reading.kind == "nodata":
        return f"{rule.name}: no data in the last {rule.window_seconds} s"
    return f"{rule.name}: {rule.metric} is {format_number(reading.value)} ({rule.comparator} {format_number(rule.threshold)})"


def render(template: str, labels: dict, value: float | None, threshold: float) -> str:
    """Fill {{ $value }}, {{ $threshold }} and {{ $labels.name }} (Prometheus' names) in an annotation."""
    def field_value(match: re.Match) -> str:
        if match.group(2):
            return str(labels.get(match.group(2), ""))
        return format_number(value if match.group(1) == "value" else threshold)
    return TEMPLATE_FIELD.sub(field_value, template)


def format_number(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def _record(session: Session, instance: Alert, previous: str | None, reason: str | None, now: datetime,
            report: PassReport) -> None:
    """A transition row for a state change; `previous` None is an instance seen for the first time ("normal")."""
    if reason is None:
        return
    if instance.id is None:
        session.flush()
    previous = previous or "normal"
    session.add(AlertTransition(alert_id=instance.id, at=now, from_state=previous, to_state=instance.state,
                                value=instance.value, reason=reason[:200]))
    report.changes.append((instance, previous))


def update_flapping(session: Session, instances: list[Alert], settings: Settings, now: datetime) -> None:
    """Count each instance's changes in the flap window, in one query for all of them."""
    ids = [instance.id for instance in instances if instance.id is not None]
    if not ids:
        return
    session.flush()
    counts = dict(session.execute(
        select(AlertTransition.alert_id, func.count()).where(AlertTransition.alert_id.in_(ids),
                                                              AlertTransition.at > now - settings.flap_window)
        .group_by(AlertTransition.alert_id)).all())
    for instance in instances:
        instance.flapping = lifecycle.is_flapping(instance.flapping, counts.get(instance.id, 0), settings.flap_changes)


def owed_resolved(loaded: list[Alert], touched: list[Alert]) -> list[Alert]:
    """Of the pass's instances, those no longer firing whose receivers last heard "firing": reset by a rule edit,
    or deferred by a flap window, possibly in another slice's pass. They are owed a resolved notification even if
    their rule is gone."""
    seen = {instance.id for instance in touched}
    return [instance for instance in loaded if instance.notified_state == "firing"
            and instance.state not in alerts.FIRING_STATES and instance.id not in seen]


def notify(session: Session, instances: list[Alert], settings: Settings, now: datetime, report: PassReport) -> None:
    """Tell receivers what they must hear now: one webhook per receiver per rule and status, an in-app
    notification per instance; reminders for instances still firing."""
    due: dict[tuple[int | None, str], list[dict]] = defaultdict(list)
    for instance in instances:
        status = lifecycle.notification_due(instance, now, settings.flap_window)
        if status is None:
            continue
        instance.notified_state, instance.notified_at = status, now
        body = alerts.as_dict(instance)
        due[instance.rule_id, status].append(body)
        report.notifications.append(_notification(session, body, status))
    for (_, status), bodies in due.items():
        report.deliveries += len(delivery.enqueue(session, bodies, status, now, settings=settings.config))
    still_firing = [instance for instance in instances if instance.state in alerts.FIRING_STATES
                    and instance.notified_state == "firing" and not instance.silenced]
    receivers = delivery.reminding_receivers(session) if still_firing else []
    if receivers:
        report.deliveries += len(delivery.enqueue_reminders(
            session, receivers, [alerts.as_dict(instance) for instance in still_firing], now, settings=settings.config))


def _notification(session: Session, body: dict, status: str) -> dict:
    level = NOTIFICATION_LEVELS["resolved"] if status == "resolved" else NOTIFICATION_LEVELS["firing"].get(
        body["severity"], "warning")
    title = f"{'Resolved' if status == 'resolved' else 'Firing'}: {body['rule_name']}"
    created = notifications.create(session, title[:200], body["message"][:2000], level, None)
    return notifications.as_dict(created)


def reset_rule(session: Session, rule_id: int, now: datetime, reason: str) -> list[tuple[Alert, str]]:
    """End every open episode of a rule whose condition changed; the next pass starts them afresh and sends
    the resolved notifications owed. Returns (instance, previous state) to publish."""
    report = PassReport()
    for instance in session.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.state != "resolved")):
        previous = instance.state
        _record(session, instance, previous, lifecycle.reset(instance, now, reason), now, report)
    return report.changes


def alert_pushes(changes: list[tuple[Alert, str]]) -> list[dict]:
    return [alerts.as_dict(instance) | {"previous_state": previous} for instance, previous in changes]


def publish(runtime, pushes: list[dict], notified: list[dict]) -> None:
    if pushes:
        runtime.hub.publish("alert", pushes)
    if notified:
        runtime.hub.publish("notification", notified)
