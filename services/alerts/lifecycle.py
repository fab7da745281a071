"""The lifecycle of one alert instance (SPEC §9), as pure functions over its fields and a clock.

    (normal) → pending → firing → recovering → resolved
                 ↘ resolved       ↖ (condition met again)

`advance` takes what an evaluation read (a value, no data, or an error) and moves the instance, returning why
when its state changed. `for_seconds` is how long the condition must hold before pending becomes firing;
`keep_firing_for_seconds` how long a firing instance stays `recovering` after the condition clears; a
`recovery_threshold` makes a firing instance clear only once the value is past it (fire above 90, clear below
80), so a value wobbling around the threshold does not flap. `nodata` and `error` are states of their own
unless the rule says a window without points, or a failed evaluation, counts as `firing` or `ok`.

`notification_due` says what receivers must hear next: "firing" once an instance fires, "resolved" exactly once
after that whatever route it leaves firing by, at most once per flap window while it is flapping, and nothing
while a silence mutes it (a resolved still goes out: a receiver that heard "firing" is owed the end of it).
"""
import operator
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.alerts.alerts import FIRING_STATES

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
# Where an instance starts an episode from: it is not (or no longer) in a condition of its own.
AT_REST = (None, "resolved", "nodata", "error")


@dataclass(frozen=True)
class Reading:
    """What one evaluation found for an instance's label set: a value, no points (`nodata`) or a failure."""
    value: float | None = None
    failed: str | None = None  # the error message when the evaluation failed

    @property
    def kind(self) -> str:
        return "error" if self.failed is not None else "nodata" if self.value is None else "value"


def breaching(rule, state: str | None, value: float) -> bool:
    """Whether `value` holds the condition, for an instance now in `state`. A firing or recovering instance is
    measured against the recovery threshold when the rule has one: that gap is the hysteresis."""
    compare = COMPARE[rule.comparator]
    if state in FIRING_STATES and rule.recovery_threshold is not None:
        return compare(value, rule.recovery_threshold)
    return compare(value, rule.threshold)


def outcome(rule, state: str | None, reading: Reading) -> bool | str:
    """True (condition holds), False (it does not), or the state of its own ("nodata", "error") to enter."""
    if reading.kind == "value":
        return breaching(rule, state, reading.value)
    mapped = rule.nodata_state if reading.kind == "nodata" else rule.error_state
    return {"firing": True, "ok": False}.get(mapped, mapped)


def advance(instance, rule, reading: Reading, now: datetime) -> str | None:
    """Move `instance` (state, started_at, state_since, fired_at, resolved_at, acknowledged_*) for `reading` at
    `now`; return the reason when its state changed, None when it did not."""
    state = instance.state
    result = outcome(rule, state, reading)
    if isinstance(result, str):
        return None if state == result else _enter(instance, result, now, reading.failed or "no data in the window")
    if result:
        return _hold(instance, rule, now)
    return _clear(instance, rule, now)


def _hold(instance, rule, now: datetime) -> str | None:
    state = instance.state
    if state in AT_REST:
        instance.started_at, instance.fired_at, instance.resolved_at = now, None, None
        if rule.for_seconds <= 0:
            return _fire(instance, now, "condition met")
        return _enter(instance, "pending", now, "condition met")
    if state == "pending" and now - instance.started_at >= timedelta(seconds=rule.for_seconds):
        return _fire(instance, now, f"condition held for {rule.for_seconds} s")
    if state == "recovering":
        return _enter(instance, "firing", now, "condition met again")
    return None


def _clear(instance, rule, now: datetime) -> str | None:
    state = instance.state
    if state == "pending":
        return _enter(instance, "resolved", now, "condition cleared before it fired")
    if state == "firing" and rule.keep_firing_for_seconds > 0:
        return _enter(instance, "recovering", now, "condition cleared")
    if state == "firing" or (state == "recovering"
                             and now - instance.state_since >= timedelta(seconds=rule.keep_firing_for_seconds)):
        return _enter(instance, "resolved", now, "condition cleared")
    if state in ("nodata", "error"):
        return _enter(instance, "resolved", now, "data back, condition not met")
    return None


def _fire(instance, now: datetime, reason: str) -> str:
    instance.fired_at = now
    return _enter(instance, "firing", now, reason)


def _enter(instance, state: str, now: datetime, reason: str) -> str:
    """Every state change passes here: leaving a firing state ends the episode for receivers and owners."""
    if instance.state in FIRING_STATES and state not in FIRING_STATES:
        instance.resolved_at = now
    if state in ("resolved", "nodata", "error"):
        instance.acknowledged_by, instance.acknowledged_at = None, None
    instance.state, instance.state_since = state, now
    return reason


def reset(instance, now: datetime, reason: str) -> str | None:
    """End the instance's episode whatever its state (its rule changed, was disabled or deleted)."""
    return None if instance.state == "resolved" else _enter(instance, "resolved", now, reason)


def notification_due(instance, now: datetime, flap_window: timedelta) -> str | None:
    """"firing" or "resolved" when receivers must hear it now; None when they are up to date or must wait."""
    if instance.state in FIRING_STATES:
        due = None if instance.silenced else "firing"
    else:
        due = "resolved" if instance.notified_state == "firing" else None
    if due is None or due == instance.notified_state:
        return None
    if instance.flapping and instance.notified_at is not None and now - instance.notified_at < flap_window:
        return None
    return due


def is_flapping(was_flapping: bool, changes_in_window: int, threshold: int) -> bool:
    """Flapping starts above `threshold` changes in the window and ends only at half of it, so the flag itself
    does not flap at the edge."""
    return changes_in_window > (threshold // 2 if was_flapping else threshold)
