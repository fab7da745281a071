"""The evaluation pass on a real database with a controllable clock: rules read what ingest stored, instances
move, history, notifications, deliveries and pushes follow."""
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, event, func, select

from database import Alert, AlertRule, AlertTransition, Delivery, Notification, Receiver, Silence
from services.alerts import evaluator, rules, series
from services.ingest import event_schema, writer
from services.monitoring import host_sampler, performance
from services.monitoring.performance import RequestMonitor
from services.realtime.hub import EventHub
from tests.fakes import FakeClock
from tests.unit.test_alert_series import host_sample

T0 = datetime(2026, 12, 3, 12, 0, 5, tzinfo=UTC)
CONFIG = {"ALERT_FLAP_CHANGES": 4, "ALERT_FLAP_WINDOW_SECONDS": 600, "EXTERNAL_URL": "http://127.0.0.1:5000",
          "HOST": "127.0.0.1", "PORT": 5000}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def runtime(clock):
    hub = EventHub(1000, 300.0)
    pushed = []
    hub.subscribe(lambda channel, items: pushed.append((channel, items)))
    return SimpleNamespace(hub=hub, pushed=pushed,
                           monitor=RequestMonitor("web-1", 1, clock=FakeClock(T0.timestamp())))


@pytest.fixture
def loop(db_session, runtime, clock):
    """Run one pass at the clock's time; returns its report."""
    engine = evaluator.Evaluator(runtime, evaluator.Settings.of(CONFIG), clock=clock)
    return lambda: engine.run(db_session)


def add_rule(session, **fields) -> AlertRule:
    body = {"name": "Queue too deep", "source": "metric", "metric": "queue.depth", "aggregation": "max",
            "window_seconds": 60, "comparator": ">", "threshold": 100} | fields
    rule = rules.create_rule(session, rules.read_fields(body, partial=False), "admin")
    session.commit()
    return rule


def push(session, value, at, name="queue.depth", **tags):
    rows, errors = event_schema.parse_batch(
        {"metrics": [{"name": name, "value": value, "tags": tags, "timestamp": at.isoformat()}]}, at)
    assert errors == []
    writer.store_batch(session, rows)
    session.commit()


def receiver(session, **fields) -> Receiver:
    row = Receiver(**({"name": "ops", "url": "http://127.0.0.1:9/hook", "format": "alertmanager",
                       "send_resolved": True, "min_severity": "info"} | fields))
    session.add(row)
    session.commit()
    return row


def instances(session, rule_id=None) -> list[Alert]:
    query = select(Alert).order_by(Alert.id)
    return list(session.scalars(query if rule_id is None else query.where(Alert.rule_id == rule_id)))


def deliveries(session) -> list[tuple[str, str]]:
    return [(row.kind, row.payload["status"]) for row in session.scalars(select(Delivery).order_by(Delivery.id))]


def alert_pushes(runtime) -> list[tuple[str, str]]:
    return [(item["previous_state"], item["state"]) for channel, items in runtime.pushed if channel == "alert"
            for item in items]


def test_a_rule_fires_resolves_and_everything_follows(db_session, runtime, clock, loop):
    add_rule(db_session, annotations={"summary": "depth {{ $value }} on {{ $labels.queue }}"}, labels={"team": "ops"},
             group_by=["queue"])
    receiver(db_session)
    push(db_session, 150, clock.now, queue="mail")
    report = loop()
    [alert] = instances(db_session)
    assert (alert.state, alert.value, alert.threshold, alert.rule_name) == ("firing", 150, 100, "Queue too deep")
    assert alert.labels == {"alertname": "Queue too deep", "severity": "warning", "team": "ops", "queue": "mail"}
    assert alert.fired_at == alert.started_at == T0
    assert alert.annotations == {"summary": "depth 150 on mail"} and alert.message == "depth 150 on mail"
    assert report.changes and alert_pushes(runtime) == [("normal", "firing")]
    assert deliveries(db_session) == [("firing", "firing")]
    assert [n.title for n in db_session.scalars(select(Notification))] == ["Firing: Queue too deep"]
    assert [channel for channel, _ in runtime.pushed] == ["alert", "notification"]

    clock.advance(10)
    assert loop().changes == []  # still firing: no push, no second notification
    assert deliveries(db_session) == [("firing", "firing")]

    clock.advance(120)  # the point has left the window
    push(db_session, 20, clock.now, queue="mail")
    loop()
    assert instances(db_session)[0].state == "resolved" and instances(db_session)[0].resolved_at == clock.now
    assert deliveries(db_session) == [("firing", "firing"), ("resolved", "resolved")]
    assert alert_pushes(runtime) == [("normal", "firing"), ("firing", "resolved")]
    history = [(row.from_state, row.to_state) for row in db_session.scalars(select(AlertTransition).order_by(AlertTransition.id))]
    assert history == [("normal", "firing"), ("firing", "resolved")]


def test_the_same_label_set_keeps_its_instance_across_episodes(db_session, clock, loop):
    add_rule(db_session)
    for value in (150, 20, 150):
        push(db_session, value, clock.now)
        loop()
        clock.advance(130)  # past the window and the minute bucket it is rounded to
    [alert] = instances(db_session)
    assert alert.state == "firing" and alert.started_at == T0 + timedelta(seconds=260)
    assert [(row.from_state, row.to_state) for row in db_session.scalars(select(AlertTransition))] == [
        ("normal", "firing"), ("firing", "resolved"), ("resolved", "firing")]


def test_each_label_set_is_an_instance_and_one_that_leaves_the_series_has_no_data(db_session, clock, loop):
    add_rule(db_session, group_by=["queue"])
    push(db_session, 150, clock.now, queue="mail")
    push(db_session, 170, clock.now, queue="sms")
    loop()
    assert [(a.labels["queue"], a.state) for a in instances(db_session)] == [("mail", "firing"), ("sms", "firing")]
    clock.advance(130)
    push(db_session, 160, clock.now, queue="mail")
    loop()
    assert [(a.labels["queue"], a.state) for a in instances(db_session)] == [("mail", "firing"), ("sms", "nodata")]


def test_normal_label_sets_leave_no_rows(db_session, clock, loop):
    add_rule(db_session, group_by=["queue"])
    push(db_session, 5, clock.now, queue="mail")
    loop()
    assert instances(db_session) == []


def test_for_makes_it_pending_first_and_a_pending_one_that_clears_notifies_nobody(db_session, clock, loop):
    add_rule(db_session, for_seconds=30)
    receiver(db_session)
    push(db_session, 150, clock.now)
    loop()
    assert instances(db_session)[0].state == "pending"
    clock.advance(120)
    push(db_session, 10, clock.now)
    loop()
    assert instances(db_session)[0].state == "resolved" and instances(db_session)[0].fired_at is None
    assert deliveries(db_session) == [] and db_session.scalar(select(func.count()).select_from(Notification)) == 0


def test_a_silenced_instance_changes_state_but_sends_nothing(db_session, runtime, clock, loop):
    add_rule(db_session)
    receiver(db_session)
    db_session.add(Silence(matchers=[{"name": "alertname", "op": "=~", "value": "Queue.*"}], starts_at=T0,
                           ends_at=T0 + timedelta(hours=1), comment="maintenance", created_by="admin"))
    db_session.commit()
    push(db_session, 150, clock.now)
    loop()
    [alert] = instances(db_session)
    assert alert.state == "firing" and alert.silenced
    assert alert_pushes(runtime) == [("normal", "firing")]
    assert deliveries(db_session) == [] and db_session.scalar(select(func.count()).select_from(Notification)) == 0


def test_when_a_silence_ends_a_still_firing_instance_is_heard(db_session, clock, loop):
    add_rule(db_session, window_seconds=3600)
    receiver(db_session)
    db_session.add(Silence(matchers=[{"name": "alertname", "op": "=", "value": "Queue too deep"}], starts_at=T0,
                           ends_at=T0 + timedelta(minutes=5), comment="deploy", created_by="admin"))
    db_session.commit()
    push(db_session, 150, clock.now)
    loop()
    assert deliveries(db_session) == []
    clock.advance(301)
    loop()
    assert not instances(db_session)[0].silenced and deliveries(db_session) == [("firing", "firing")]


@pytest.mark.parametrize("route", ["disable", "delete", "edit"])
def test_a_firing_instance_whose_rule_goes_away_or_changes_is_resolved_once(db_session, runtime, clock, loop, route):
    rule = add_rule(db_session, window_seconds=3600)
    receiver(db_session)
    push(db_session, 150, clock.now)
    loop()
    if route == "disable":
        rule.enabled = False
    elif route == "delete":
        db_session.execute(delete(AlertRule).where(AlertRule.id == rule.id))
    else:
        changed = rules.update_rule(db_session, rule, rules.read_fields({"threshold": 200}, partial=True))
        assert changed == ["threshold"]
        evaluator.reset_rule(db_session, rule.id, clock.now, "rule condition changed")
    db_session.commit()
    for _ in range(3):
        clock.advance(10)
        loop()
    [alert] = instances(db_session)
    assert alert.state == "resolved"
    assert deliveries(db_session) == [("firing", "firing"), ("resolved", "resolved")]


def test_a_rule_that_cannot_be_read_is_in_error_and_others_still_run(db_session, clock, loop):
    add_rule(db_session)
    broken = add_rule(db_session, name="Broken")
    broken.source = "nowhere"  # only a database edit could store this; the loop must survive it
    db_session.commit()
    push(db_session, 150, clock.now)
    loop()
    assert sorted((a.rule_name, a.state) for a in instances(db_session)) == [("Broken", "error"), ("Queue too deep", "firing")]
    assert "evaluation failed" in [a for a in instances(db_session) if a.rule_name == "Broken"][0].message


def test_a_comparison_with_the_past_fires_on_the_ratio(db_session, clock, loop):
    add_rule(db_session, name="Orders dropped", metric="orders", aggregation="count", window_seconds=3600,
             comparator="<", threshold=0.5, compare_offset_seconds=7 * 86400)
    hour = clock.now.replace(minute=0, second=0) - timedelta(hours=1)
    for minute in range(10):
        push(db_session, 1, hour - timedelta(days=7) + timedelta(minutes=minute), name="orders")
    for minute in range(3):
        push(db_session, 1, hour + timedelta(minutes=minute), name="orders")
    loop()
    [alert] = instances(db_session)
    assert (alert.state, alert.value) == ("firing", pytest.approx(0.3))


def test_a_flapping_instance_is_marked_and_heard_once_per_window(db_session, clock, loop):
    add_rule(db_session)
    receiver(db_session)
    for step in range(12):  # the value flips every pass; each point leaves the 1-2 minute window in time
        push(db_session, 150 if step % 2 == 0 else 10, clock.now)
        loop()
        clock.advance(130)
    [alert] = instances(db_session)
    assert alert.flapping and alert.state == "resolved"
    # Four words while it was not yet known to flap (the fifth change in 600 s marks it); then the one at
    # 1,040 s, a window after the last; the flips in between are history only.
    assert deliveries(db_session) == [("firing", "firing"), ("resolved", "resolved")] * 2 + [("firing", "firing")]
    assert db_session.scalar(select(func.count()).select_from(AlertTransition)) == 12
    clock.advance(300)
    loop()  # settled: the resolved it is owed goes out once the window allows
    assert deliveries(db_session)[-1] == ("resolved", "resolved") and len(deliveries(db_session)) == 6


def test_nothing_runs_in_a_process_that_is_not_the_evaluator(db_session, runtime, clock):
    add_rule(db_session)
    push(db_session, 150, clock.now)
    engine = evaluator.Evaluator(runtime, evaluator.Settings.of(CONFIG), clock=clock, is_evaluator=lambda: False)
    assert engine.run(db_session) is None and instances(db_session) == []


def rollup_statements(session, run) -> list[str]:
    """The statements on metric_rollups that `run()` sends."""
    statements = []
    engine = session.get_bind()

    def listener(connection, cursor, statement, *rest):
        statements.append(statement)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return [statement for statement in statements if "FROM metric_rollups" in statement]


def test_one_pass_reads_custom_metrics_in_two_queries_for_all_rules(db_session, clock, loop):
    for index in range(50):
        add_rule(db_session, name=f"rule {index}", metric=f"m{index}", aggregation="p95" if index % 2 else "max")
        push(db_session, 150, clock.now, name=f"m{index}")
    reports = []
    # The fingerprints of the complete buckets, then the rows of the buckets that moved and of the one in
    # progress, with histograms for the p95 rules' names only.
    assert len(rollup_statements(db_session, lambda: reports.append(loop()))) == 2
    assert reports[0].rules == 50 and len(instances(db_session)) == 50


def test_a_later_pass_reloads_only_the_buckets_that_changed(db_session, clock, loop):
    add_rule(db_session, window_seconds=300, threshold=100)
    for minutes_ago in range(5, 0, -1):
        push(db_session, 50, clock.now - timedelta(minutes=minutes_ago))
    loop()
    clock.advance(5)
    [fingerprints, rows] = rollup_statements(db_session, loop)
    assert "GROUP BY" in fingerprints and "IN (" not in rows.split("bucket_start")[-1]  # the bucket in progress only
    assert instances(db_session) == []
    push(db_session, 500, clock.now - timedelta(minutes=3))  # late: into a complete minute the history holds
    clock.advance(5)
    loop()
    [alert] = instances(db_session)
    assert alert.state == "firing" and alert.value == 500


def test_a_percentile_follows_points_added_to_a_minute_an_earlier_pass_read(db_session, clock, loop):
    add_rule(db_session, aggregation="p95")
    push(db_session, 50, clock.now)
    loop()
    assert instances(db_session) == []
    for _ in range(20):  # the same minute's rollup row gains points: its kept histogram must not be reused
        push(db_session, 500, clock.now)
    clock.advance(5)
    loop()
    [alert] = instances(db_session)
    assert alert.state == "firing" and alert.value == pytest.approx(500, rel=0.06)


def test_endpoint_rules_share_the_stored_rollups_and_add_the_live_minute(db_session, runtime, clock, loop):
    monitor, now = runtime.monitor, T0.timestamp()
    for _ in range(10):  # a minute ago, stored: slow and failing
        monitor.record("/api/orders", "GET", 500, 900.0, now=now - 60)
    performance.flush(db_session, monitor.drain_completed(now=now))
    db_session.commit()
    for _ in range(10):  # this minute, still in memory: fast and fine
        monitor.record("/api/orders", "GET", 200, 5.0, now=now)
    add_rule(db_session, name="Slow", source="endpoint", metric="p95", window_seconds=120, threshold=500)
    add_rule(db_session, name="Failing", source="endpoint", metric="error_rate", window_seconds=60, threshold=0.4,
             filters={"endpoint": "/api/orders"})
    add_rule(db_session, name="Busy", source="endpoint", metric="rps", window_seconds=60, threshold=1000)
    loop()
    # Both windows start in the stored minute (windows count whole minutes): half the requests failed, and
    # the p95 of twenty is one of the slow ones.
    assert sorted((alert.rule_name, alert.state) for alert in instances(db_session)) == [
        ("Failing", "firing"), ("Slow", "firing")]
    assert {alert.rule_name: alert.value for alert in instances(db_session)}["Failing"] == pytest.approx(0.5)


def test_host_rules_share_one_read_of_the_samples_and_agree_with_a_rule_read_alone(db_session, runtime, clock, loop):
    for minute in range(8):  # two hosts, rolled up to minutes before the last three, raw after
        for host, cpu in (("web-1", 95.0), ("web-2", 20.0 + minute)):
            when = T0 - timedelta(minutes=8 - minute)
            host_sampler.store(db_session, host_sample(when, cpu, 50.0 + minute, host))
    host_sampler.roll_up(db_session, "1m", T0 - timedelta(minutes=3))
    db_session.commit()
    bodies = [{"name": "CPU", "source": "host", "metric": "cpu", "group_by": ["host"], "window_seconds": 120,
               "threshold": 90},
              {"name": "Memory web-2", "source": "host", "metric": "memory", "aggregation": "max",
               "filters": {"host": "web-2"}, "window_seconds": 600, "threshold": 56}]
    for body in bodies:
        add_rule(db_session, **body)
    loop()
    assert sorted((alert.rule_name, alert.labels.get("host"), alert.state, alert.value)
                  for alert in instances(db_session)) == [
        ("CPU", "web-1", "firing", 95.0), ("Memory web-2", None, "firing", 57.0)]
    alone = series.evaluate(db_session, runtime, series.SeriesQuery.of(bodies[1] | {"aggregation": "max"}), T0)
    assert [value.value for value in alone] == [57.0]



def test_slices_evaluate_every_rule_once_per_round_and_leave_other_slices_instances_alone(db_session, runtime, clock):
    names = [f"queue.{index}" for index in range(12)]
    for name in names:
        add_rule(db_session, name=f"deep {name}", metric=name)
        push(db_session, 150, clock.now, name=name)
    engine = evaluator.Evaluator(runtime, evaluator.Settings.of(CONFIG), clock=clock, slices=3)
    by_slice = [evaluator.slice_of(rule, 3) for rule in engine.rules.enabled(db_session)]
    assert len(set(by_slice)) > 1  # the twelve series are spread over the slices
    counts = [engine.run(db_session).rules for _ in range(3)]
    assert counts == [by_slice.count(turn) for turn in range(3)] and sum(counts) == 12
    assert [alert.state for alert in instances(db_session)] == ["firing"] * 12

    clock.advance(10)
    for _ in range(3):  # a slice's pass does not take the other slices' firing instances for orphans
        assert engine.run(db_session).changes == []
    assert [alert.state for alert in instances(db_session)] == ["firing"] * 12


def test_any_slice_resolves_the_instances_of_a_rule_that_was_disabled(db_session, runtime, clock):
    receiver(db_session)
    rule = add_rule(db_session)
    push(db_session, 150, clock.now)
    engine = evaluator.Evaluator(runtime, evaluator.Settings.of(CONFIG), clock=clock, slices=4)
    for _ in range(4):
        engine.run(db_session)
    assert instances(db_session)[0].state == "firing"
    rule.enabled = False
    db_session.commit()
    clock.advance(10)
    report = engine.run(db_session)
    assert report.rules == 0 and instances(db_session)[0].state == "resolved"
    assert deliveries(db_session) == [("firing", "firing"), ("resolved", "resolved")]
