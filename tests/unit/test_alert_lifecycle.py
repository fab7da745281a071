"""The instance lifecycle as tables: readings at given seconds in, the states they lead to."""
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.alerts import lifecycle
from services.alerts.lifecycle import Reading

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FLAP_WINDOW = timedelta(minutes=10)


@dataclass
class Rule:
    comparator: str = ">"
    threshold: float = 90.0
    recovery_threshold: float | None = None
    for_seconds: int = 0
    keep_firing_for_seconds: int = 0
    nodata_state: str = "nodata"
    error_state: str = "error"


@dataclass
class Instance:
    state: str | None = None
    started_at: datetime | None = None
    state_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    silenced: bool = False
    flapping: bool = False
    notified_state: str | None = None
    notified_at: datetime | None = None


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(rule: Rule, steps: list[tuple[float, Reading]], instance: Instance | None = None) -> list[str | None]:
    """Feed the readings at their second; return the state after each."""
    instance = instance or Instance()
    states = []
    for seconds, reading in steps:
        lifecycle.advance(instance, rule, reading, at(seconds))
        states.append(instance.state)
    return states


def values(*pairs) -> list[tuple[float, Reading]]:
    return [(seconds, Reading(value)) for seconds, value in pairs]


@pytest.mark.parametrize("rule, steps, expected", [
    # No `for`: fires at once and resolves at once.
    (Rule(), values((0, 95), (10, 96), (20, 50)), ["firing", "firing", "resolved"]),
    # A normal value never seen before creates nothing.
    (Rule(), values((0, 50)), [None]),
    # `for`: pending until the condition has held that long, measured from the first breach.
    (Rule(for_seconds=30), values((0, 95), (10, 95), (20, 95), (30, 95)), ["pending", "pending", "pending", "firing"]),
    # A pending instance that clears never fired.
    (Rule(for_seconds=30), values((0, 95), (10, 50)), ["pending", "resolved"]),
    # After a pending episode cleared, `for` counts afresh.
    (Rule(for_seconds=20), values((0, 95), (10, 50), (20, 95), (30, 95), (40, 95)),
     ["pending", "resolved", "pending", "pending", "firing"]),
    # keep_firing_for: recovering while it lasts, back to firing if the condition returns.
    (Rule(keep_firing_for_seconds=30), values((0, 95), (10, 50), (20, 95), (30, 50), (50, 50), (60, 50)),
     ["firing", "recovering", "firing", "recovering", "recovering", "resolved"]),
    # Comparators.
    (Rule(comparator="<", threshold=10), values((0, 5), (10, 10)), ["firing", "resolved"]),
    (Rule(comparator="<=", threshold=10), values((0, 10), (10, 10.5)), ["firing", "resolved"]),
    (Rule(comparator=">=", threshold=90), values((0, 90), (10, 89.9)), ["firing", "resolved"]),
    # Recovery threshold: fire above 90, clear only at or below 80.
    (Rule(recovery_threshold=80), values((0, 95), (10, 85), (20, 89), (30, 80)),
     ["firing", "firing", "firing", "resolved"]),
    # ... and for a "below" rule: fire under 10, clear only at or above 20.
    (Rule(comparator="<", threshold=10, recovery_threshold=20), values((0, 5), (10, 15), (20, 20)),
     ["firing", "firing", "resolved"]),
    # The recovery threshold only matters once firing: a pending instance clears at the threshold.
    (Rule(for_seconds=30, recovery_threshold=80), values((0, 95), (10, 85)), ["pending", "resolved"]),
])
def test_values_move_an_instance_through_its_states(rule, steps, expected):
    assert run(rule, steps) == expected


@pytest.mark.parametrize("nodata_state, expected", [
    ("nodata", ["firing", "nodata", "nodata", "firing"]),
    ("firing", ["firing", "firing", "firing", "firing"]),
    ("ok", ["firing", "resolved", "resolved", "firing"]),
])
def test_a_window_without_points_counts_as_the_rule_says(nodata_state, expected):
    steps = [(0, Reading(95)), (10, Reading()), (20, Reading()), (30, Reading(95))]
    assert run(Rule(nodata_state=nodata_state), steps) == expected


@pytest.mark.parametrize("error_state, expected", [
    ("error", ["error", "resolved"]),
    ("firing", ["firing", "resolved"]),
    ("ok", [None, None]),
])
def test_a_failed_evaluation_counts_as_the_rule_says(error_state, expected):
    steps = [(0, Reading(failed="boom")), (10, Reading(50))]
    assert run(Rule(error_state=error_state), steps) == expected


def test_nodata_from_a_fresh_rule_creates_a_nodata_instance_and_data_resolves_it():
    assert run(Rule(), [(0, Reading()), (10, Reading(50))]) == ["nodata", "resolved"]


def test_times_are_kept_per_episode():
    instance = Instance()
    rule = Rule(for_seconds=20, keep_firing_for_seconds=10)
    for seconds, value in [(0, 95), (20, 95), (30, 50), (40, 50)]:
        lifecycle.advance(instance, rule, Reading(value), at(seconds))
    assert (instance.started_at, instance.fired_at, instance.resolved_at) == (at(0), at(20), at(40))
    assert instance.state_since == at(40)
    lifecycle.advance(instance, rule, Reading(95), at(100))
    assert (instance.state, instance.started_at, instance.fired_at, instance.resolved_at) == (
        "pending", at(100), None, None)


@pytest.mark.parametrize("route", ["condition", "nodata", "error", "reset"])
def test_leaving_firing_by_any_route_ends_the_episode_and_the_acknowledgement(route):
    instance = Instance()
    lifecycle.advance(instance, Rule(), Reading(95), at(0))
    instance.acknowledged_by, instance.acknowledged_at = "admin", at(5)
    leave = {"condition": lambda: lifecycle.advance(instance, Rule(), Reading(50), at(10)),
             "nodata": lambda: lifecycle.advance(instance, Rule(), Reading(), at(10)),
             "error": lambda: lifecycle.advance(instance, Rule(), Reading(failed="boom"), at(10)),
             "reset": lambda: lifecycle.reset(instance, at(10), "rule changed")}[route]
    assert leave() is not None
    assert instance.state != "firing" and instance.resolved_at == at(10)
    assert (instance.acknowledged_by, instance.acknowledged_at) == (None, None)


def test_advance_answers_a_reason_only_when_the_state_changes():
    instance = Instance()
    assert lifecycle.advance(instance, Rule(), Reading(95), at(0)) == "condition met"
    assert lifecycle.advance(instance, Rule(), Reading(96), at(10)) is None
    assert lifecycle.reset(Instance(state="resolved"), at(20), "rule changed") is None


def notified(instance: Instance, now: float) -> str | None:
    """What receivers hear at `now` (and remember it, as the evaluator does)."""
    due = lifecycle.notification_due(instance, at(now), FLAP_WINDOW)
    if due:
        instance.notified_state, instance.notified_at = due, at(now)
    return due


@pytest.mark.parametrize("route", ["condition", "keep_firing_for", "nodata", "error", "reset"])
def test_every_firing_episode_sends_exactly_one_resolved_whatever_the_route(route):
    rule = Rule(keep_firing_for_seconds=20 if route == "keep_firing_for" else 0)
    instance = Instance()
    heard = []
    lifecycle.advance(instance, rule, Reading(95), at(0))
    heard.append(notified(instance, 0))
    leaving = {"condition": [Reading(50)], "keep_firing_for": [Reading(50), Reading(50), Reading(50)],
               "nodata": [Reading(), Reading()], "error": [Reading(failed="x"), Reading(failed="x")], "reset": []}
    for step, reading in enumerate(leaving[route], start=1):
        lifecycle.advance(instance, rule, reading, at(10 * step))
        heard.append(notified(instance, 10 * step))
    if route == "reset":
        lifecycle.reset(instance, at(10), "rule changed")
    heard += [notified(instance, 100), notified(instance, 200)]
    assert [entry for entry in heard if entry] == ["firing", "resolved"]


def test_a_pending_instance_that_never_fired_sends_nothing():
    instance = Instance()
    rule = Rule(for_seconds=60)
    lifecycle.advance(instance, rule, Reading(95), at(0))
    assert notified(instance, 0) is None
    lifecycle.advance(instance, rule, Reading(50), at(10))
    assert notified(instance, 10) is None


def test_a_silence_mutes_firing_but_a_receiver_that_heard_firing_still_hears_resolved():
    instance = Instance(silenced=True)
    lifecycle.advance(instance, Rule(), Reading(95), at(0))
    assert notified(instance, 0) is None
    instance.silenced = False  # the silence ended while it still fires: now they hear it
    assert notified(instance, 10) == "firing"
    instance.silenced = True
    lifecycle.advance(instance, Rule(), Reading(50), at(20))
    assert notified(instance, 20) == "resolved"


def test_a_silenced_episode_that_ends_sends_nothing_at_all():
    instance = Instance(silenced=True)
    lifecycle.advance(instance, Rule(), Reading(95), at(0))
    lifecycle.advance(instance, Rule(), Reading(50), at(10))
    assert [notified(instance, 0), notified(instance, 10)] == [None, None]


def test_a_flapping_instance_is_heard_once_per_window_and_ends_resolved():
    instance = Instance()
    sent = []
    for step in range(80):  # flips every 10 s for 800 s; known to flap from the fifth change on
        lifecycle.advance(instance, Rule(), Reading(95 if step % 2 == 0 else 50), at(10 * step))
        instance.flapping = step >= 4
        sent.append((10 * step, notified(instance, 10 * step)))
    # Each change is heard until it flaps; then nothing until a window after the last word, when it says
    # what is true then (firing at 640 s: at 630 s it was resolved, which they had heard already).
    assert [entry for entry in sent if entry[1]] == [(0, "firing"), (10, "resolved"), (20, "firing"),
                                                     (30, "resolved"), (640, "firing")]
    lifecycle.advance(instance, Rule(), Reading(50), at(1000))  # it settles, still marked flapping
    assert notified(instance, 1000) is None  # within the window of the last word
    assert notified(instance, 1240) == "resolved"  # the one resolved it is owed, once the window is over
    assert notified(instance, 2000) is None


@pytest.mark.parametrize("was_flapping, changes, expected", [
    (False, 4, False), (False, 5, True), (True, 3, True), (True, 2, False),
])
def test_flapping_starts_above_the_threshold_and_ends_at_half_of_it(was_flapping, changes, expected):
    assert lifecycle.is_flapping(was_flapping, changes, 4) is expected
