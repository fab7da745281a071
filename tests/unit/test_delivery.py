"""Webhook deliveries: who is queued what, reminders, backoff, and the worker against a real HTTP receiver.

The worker runs on a SQLite file (and PostgreSQL where noted) with a controllable clock and a tiny backoff base;
its calls run in threads the tests join, so each step is exact.
"""
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import scoped_session, sessionmaker

from database import Alert, Base, Delivery, Receiver, create_database_engine
from services.alerts import alerts, delivery
from services.alerts.delivery import Outcome, backoff, settle
from services.alerts.delivery_worker import DeliveryWorker
from tests.servers import free_port
from tests.webhook_receiver import WebhookReceiver

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = {"EXTERNAL_URL": "https://pulse.example.com", "HOST": "127.0.0.1", "PORT": 5000,
            "WEBHOOK_TIMEOUT_SECONDS": 2.0, "WEBHOOK_MAX_ATTEMPTS": 4}


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Threads:
    """A `spawn` whose threads the test can join."""

    def __init__(self) -> None:
        self.started: list[threading.Thread] = []

    def __call__(self, target, *args) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.started.append(thread)
        return thread

    def join(self) -> None:
        for thread in self.started:
            thread.join(timeout=15)


def add_receiver(session, name="ops", url="http://127.0.0.1:9/hook", **fields) -> Receiver:
    receiver = Receiver(name=name, url=url, **fields)
    session.add(receiver)
    session.flush()
    return receiver


def add_alert(session, severity="warning", fired_ago=60, host="web-1", **fields) -> dict:
    labels = {"alertname": "High CPU", "severity": severity, "host": host}
    fired = NOW - timedelta(seconds=fired_ago)
    alert = Alert(rule_name="High CPU", fingerprint=alerts.fingerprint(labels), state="firing", severity=severity,
                  labels=labels, annotations={"summary": "CPU high"}, value=95.0, threshold=90.0, started_at=fired,
                  state_since=fired, fired_at=fired, **fields)
    session.add(alert)
    session.flush()
    return alerts.as_dict(alert)


# --- who is queued what ---------------------------------------------------------------------------------------

@pytest.fixture
def receivers(db_session):
    return {"all": add_receiver(db_session, "all"),
            "warning": add_receiver(db_session, "warning", min_severity="warning"),
            "critical": add_receiver(db_session, "critical", min_severity="critical"),
            "quiet": add_receiver(db_session, "quiet", send_resolved=False, format="slack")}


def names(db_session, rows) -> list[str]:
    return [db_session.get(Receiver, row.receiver_id).name for row in rows]


@pytest.mark.parametrize("severity, status, expected", [
    ("info", "firing", ["all", "quiet"]),
    ("warning", "firing", ["all", "warning", "quiet"]),
    ("critical", "firing", ["all", "warning", "critical", "quiet"]),
    ("warning", "resolved", ["all", "warning"]),
    ("critical", "resolved", ["all", "warning", "critical"]),
])
def test_each_receiver_hears_what_its_severity_and_send_resolved_ask_for(db_session, receivers, severity, status,
                                                                         expected):
    alert = add_alert(db_session, severity)
    rows = delivery.enqueue(db_session, [alert], status, NOW, settings=SETTINGS)
    assert names(db_session, rows) == expected
    assert {(row.kind, row.status, row.attempts, row.alert_id, row.next_attempt_at) for row in rows} == {
        (status, "pending", 0, alert["id"], NOW)}


def test_a_body_is_built_per_receiver_format_when_queued(db_session, receivers):
    alert = add_alert(db_session, "critical")
    queued = delivery.enqueue(db_session, [alert], "firing", NOW, settings=SETTINGS)
    rows = dict(zip(names(db_session, queued), queued, strict=True))
    assert rows["all"].payload["version"] == "4" and rows["all"].payload["receiver"] == "all"
    assert rows["all"].payload["alerts"][0]["generatorURL"] == f"https://pulse.example.com/admin/alerts?alert={alert['id']}"
    assert rows["quiet"].payload["text"].startswith("[FIRING:1] High CPU (critical)")


def test_several_alerts_make_one_delivery_naming_none_of_them(db_session, receivers):
    group = [add_alert(db_session, host="web-1"), add_alert(db_session, host="web-2")]
    rows = delivery.enqueue(db_session, group, "firing", NOW, settings=SETTINGS, kind="firing")
    assert len(rows) == 3 and {row.alert_id for row in rows} == {None}
    assert [len(row.payload.get("alerts", [])) for row in rows] == [2, 2, 0]


def test_nothing_is_queued_for_no_alerts_or_no_receivers(db_session):
    assert delivery.enqueue(db_session, [], "firing", NOW, settings=SETTINGS) == []
    assert delivery.enqueue(db_session, [add_alert(db_session)], "firing", NOW, settings=SETTINGS) == []


# --- reminders ---------------------------------------------------------------------------------------------------

@pytest.fixture
def repeating(db_session):
    add_receiver(db_session, "never")
    add_receiver(db_session, "critical only", repeat_interval_seconds=600, min_severity="critical")
    return add_receiver(db_session, "every 10 min", repeat_interval_seconds=600)


def remind(db_session, firing, now=NOW) -> list[Delivery]:
    return delivery.enqueue_reminders(db_session, delivery.reminding_receivers(db_session), firing, now, settings=SETTINGS)


def test_a_reminder_goes_once_the_interval_passed_since_firing_and_then_every_interval(db_session, repeating):
    early, late = add_alert(db_session, fired_ago=599), add_alert(db_session, fired_ago=600, host="web-2")
    [row] = remind(db_session, [early, late])
    assert (row.receiver_id, row.alert_id, row.kind, row.payload["status"]) == (repeating.id, late["id"], "reminder",
                                                                                "firing")
    assert [row.alert_id for row in remind(db_session, [early, late], NOW + timedelta(seconds=1))] == [early["id"]]
    assert remind(db_session, [early, late], NOW + timedelta(seconds=599)) == []
    assert len(remind(db_session, [early, late], NOW + timedelta(seconds=601))) == 2


def test_a_firing_delivery_counts_as_heard(db_session, repeating):
    alert = add_alert(db_session, fired_ago=3600)
    delivery.enqueue(db_session, [alert], "firing", NOW - timedelta(seconds=300), settings=SETTINGS)
    assert remind(db_session, [alert]) == []
    assert len(remind(db_session, [alert], NOW + timedelta(seconds=300))) == 1


def test_a_new_episode_is_not_reminded_by_the_last_episodes_deliveries(db_session, repeating):
    alert = add_alert(db_session, fired_ago=10)  # the instance's row is older: it fired before, a day ago
    db_session.add(Delivery(receiver_id=repeating.id, alert_id=alert["id"], kind="reminder", payload={},
                            created_at=NOW - timedelta(days=1)))
    assert remind(db_session, [alert]) == []


def test_silenced_alerts_get_no_reminders_and_tests_or_resolved_do_not_count_as_heard(db_session, repeating):
    silenced, alert = add_alert(db_session, fired_ago=3600, silenced=True), add_alert(db_session, fired_ago=3600,
                                                                                        host="web-2")
    for kind in ("test", "resolved"):
        db_session.add(Delivery(receiver_id=repeating.id, alert_id=alert["id"], kind=kind, payload={}, created_at=NOW))
    assert [row.alert_id for row in remind(db_session, [silenced, alert])] == [alert["id"]]


def test_critical_alerts_reach_the_critical_only_receiver_too(db_session, repeating):
    assert len(remind(db_session, [add_alert(db_session, "critical", fired_ago=900)])) == 2


# --- backoff and outcomes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("attempts, ceiling", [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (200, 300.0)])
def test_backoff_is_full_jitter_under_an_exponential_ceiling_and_a_cap(attempts, ceiling):
    assert backoff(attempts, 1.0, 300.0, rng=lambda: 1.0) == ceiling
    assert backoff(attempts, 1.0, 300.0, rng=lambda: 0.0) == 0.0
    assert all(0.0 <= backoff(attempts, 1.0, 300.0) <= ceiling for _ in range(200))


@pytest.mark.parametrize("outcome, attempts, status", [
    (Outcome(200), 1, "delivered"), (Outcome(204), 8, "delivered"),
    (Outcome(500, "HTTP 500"), 1, "pending"), (Outcome(503, "HTTP 503"), 3, "pending"), (Outcome(429, "slow down"), 1, "pending"),
    (Outcome(None, "ConnectionError"), 1, "pending"), (Outcome(None, "no answer within 5 s"), 3, "pending"),
    (Outcome(500, "HTTP 500"), 4, "dead"), (Outcome(None, "timeout"), 4, "dead"),
    (Outcome(400, "HTTP 400"), 1, "dead"), (Outcome(404, "HTTP 404"), 1, "dead"), (Outcome(301, "HTTP 301"), 1, "dead"),
])
def test_an_attempt_settles_as_delivered_pending_or_dead(outcome, attempts, status):
    values = settle(outcome, attempts, 4, NOW, 2.5)
    assert values["status"] == status and values["last_status_code"] == outcome.status_code
    assert values["last_error"] == outcome.error
    assert values.get("next_attempt_at") == (NOW + timedelta(seconds=2.5) if status == "pending" else None)
    assert values.get("delivered_at") == (NOW if status == "delivered" else None)


def test_retry_revives_only_dead_letters(db_session):
    receiver = add_receiver(db_session)
    row = Delivery(receiver_id=receiver.id, kind="firing", payload={}, status="dead", attempts=4, last_error="HTTP 503")
    delivery.retry(row, NOW)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, NOW)
    with pytest.raises(delivery.DeliveryStateError):
        delivery.retry(row, NOW)


def test_purge_deletes_finished_deliveries_before_the_cutoff(db_session):
    receiver = add_receiver(db_session)
    for status, age in [("delivered", 10), ("dead", 10), ("pending", 10), ("delivered", 1), ("dead", 1)]:
        db_session.add(Delivery(receiver_id=receiver.id, kind="firing", payload={}, status=status,
                                created_at=NOW - timedelta(days=age)))
    assert delivery.purge(db_session, NOW - timedelta(days=5)) == 2
    assert sorted(row.status for row in db_session.scalars(select(Delivery))) == ["dead", "delivered", "pending"]


# --- the worker against a real receiver ----------------------------------------------------------------------------

def make_store(url: str):
    engine = create_database_engine(url, timeout=10)
    Base.metadata.create_all(engine)
    return engine, scoped_session(sessionmaker(bind=engine, expire_on_commit=False))


@pytest.fixture
def store(tmp_path):
    engine, sessions = make_store(f"sqlite:///{tmp_path / 'deliveries.db'}")
    yield sessions
    sessions.remove()
    engine.dispose()


class Rig:
    """A worker with a controllable clock whose calls run in joinable threads; `step()` is one pass, calls done."""

    def __init__(self, sessions, **settings) -> None:
        self.sessions, self.clock, self.threads = sessions, Clock(), Threads()
        self.worker = DeliveryWorker(sessions, SETTINGS | settings, self.threads, time.sleep, clock=self.clock,
                                     backoff_base=0.01, rng=lambda: 1.0)

    def queue(self, url: str, count: int = 1, name: str = "ops") -> list[int]:
        """A new receiver at `url` with `count` firing deliveries queued for it alone; returns their ids."""
        session = self.sessions()
        receiver = add_receiver(session, name, url)
        rows = [delivery.queue(receiver, [add_alert(session, host=f"{name}-{n}")], "firing", self.clock(), SETTINGS,
                               "firing") for n in range(count)]
        session.add_all(rows)
        session.commit()
        self.sessions.remove()
        return [row.id for row in rows]

    def step(self, advance: float = 1.0) -> list:
        claims = self.worker.send_due(self.sessions(), self.clock())
        self.sessions.remove()
        self.threads.join()
        self.clock.advance(advance)
        return claims

    def row(self, delivery_id: int) -> Delivery:
        found = self.sessions().get(Delivery, delivery_id, populate_existing=True)
        self.sessions.remove()
        return found


def test_a_500_is_retried_and_then_delivered(store):
    rig = Rig(store)
    with WebhookReceiver(statuses=[500, 200]) as hook:
        [delivery_id] = rig.queue(hook.url)
        rig.step(advance=0)
        failed = rig.row(delivery_id)
        assert (failed.status, failed.attempts, failed.last_status_code) == ("pending", 1, 500)
        assert failed.last_error.startswith("HTTP 500") and failed.next_attempt_at == NOW + timedelta(seconds=0.01)
        assert rig.step() == []  # not due before its backoff ends
        rig.step()
        done = rig.row(delivery_id)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == ("delivered", 2, 200, None)
    assert done.delivered_at == NOW + timedelta(seconds=1)
    assert [request["status"] for request in hook.requests] == [500, 200]
    assert hook.bodies[0] == hook.bodies[1] == done.payload
    assert hook.requests[0]["headers"]["User-Agent"].startswith("Pulseboard")
    assert hook.requests[0]["headers"]["Content-Type"] == "application/json"


def test_a_400_is_final_after_one_attempt(store):
    rig = Rig(store)
    with WebhookReceiver(statuses=[400, 200]) as hook:
        [delivery_id] = rig.queue(hook.url)
        for _ in range(3):
            rig.step(advance=60)
        dead = rig.row(delivery_id)
    assert (dead.status, dead.attempts, dead.last_status_code) == ("dead", 1, 400)
    assert len(hook.requests) == 1


def test_a_timeout_is_retried(store):
    rig = Rig(store, WEBHOOK_TIMEOUT_SECONDS=0.2)
    with WebhookReceiver(statuses=[200], delay=0.6) as hook:
        [delivery_id] = rig.queue(hook.url)
        rig.step()
        slow = rig.row(delivery_id)
        assert (slow.status, slow.attempts, slow.last_status_code) == ("pending", 1, None)
        assert slow.last_error == "no answer within 0.2 s"
        rig.step()
        hook.wait_for(2)
    assert rig.row(delivery_id).attempts == 2


def test_a_refused_connection_is_retried(store):
    rig = Rig(store)
    [delivery_id] = rig.queue(f"http://127.0.0.1:{free_port()}/hook")
    rig.step()
    refused = rig.row(delivery_id)
    assert (refused.status, refused.attempts, refused.last_status_code) == ("pending", 1, None)
    assert "ConnectionError" in refused.last_error


def test_a_redirect_is_final_and_says_where_to_point_the_receiver(store):
    rig = Rig(store)
    with WebhookReceiver(statuses=[301], headers={"Location": "https://hooks.example.com/new"}) as hook:
        [delivery_id] = rig.queue(hook.url)
        rig.step()
        rig.step()
    moved = rig.row(delivery_id)
    assert (moved.status, moved.attempts, moved.last_status_code) == ("dead", 1, 301)
    assert moved.last_error.endswith("use the URL it points at (https://hooks.example.com/new)")
    assert len(hook.requests) == 1


def test_out_of_attempts_is_a_dead_letter_which_a_retry_revives(store):
    rig = Rig(store)
    with WebhookReceiver(statuses=[503, 503, 503, 503, 200]) as hook:
        [delivery_id] = rig.queue(hook.url)
        for _ in range(6):
            rig.step()
        dead = rig.row(delivery_id)
        assert (dead.status, dead.attempts, dead.last_status_code) == ("dead", SETTINGS["WEBHOOK_MAX_ATTEMPTS"], 503)
        assert len(hook.requests) == 4
        session = store()
        delivery.retry(session.get(Delivery, delivery_id), rig.clock())
        session.commit()
        store.remove()
        rig.step()
        revived = rig.row(delivery_id)
    assert (revived.status, revived.attempts, revived.last_status_code) == ("delivered", 1, 200)
    assert len(hook.requests) == 5


def test_a_slow_receiver_holds_up_no_other(store):
    rig = Rig(store, WEBHOOK_TIMEOUT_SECONDS=5.0)
    with WebhookReceiver(statuses=[200], delay=1.0) as slow, WebhookReceiver(statuses=[200]) as quick:
        rig.queue(slow.url, count=3, name="slow")
        quick_ids = rig.queue(quick.url, count=1, name="quick")
        started = time.monotonic()
        claims = rig.worker.send_due(store(), rig.clock())
        store.remove()
        quick.wait_for(1, timeout=0.8)
        assert time.monotonic() - started < 0.8
        assert sorted(claim.receiver_id for claim in claims) == sorted({claim.receiver_id for claim in claims})
        rig.threads.join()
    assert rig.row(quick_ids[0]).status == "delivered"


def run_two_workers(url: str, hook: WebhookReceiver, receivers: int, each: int) -> tuple[list[Delivery], list[int]]:
    """Two workers, each with its own engine, race over the same due rows; returns the rows and each one's calls."""
    engines, stores = zip(*(make_store(url) for _ in range(2)), strict=True)
    rig = Rig(stores[0])
    for n in range(receivers):
        rig.queue(hook.url, count=each, name=f"r{n}")
    spawns = [Threads(), Threads()]
    workers = [DeliveryWorker(sessions, SETTINGS, spawn, time.sleep, poll_interval=0.05)
               for sessions, spawn in zip(stores, spawns, strict=True)]
    for worker in workers:
        worker.start()
    try:
        hook.wait_for(receivers * each, timeout=30)
        time.sleep(0.5)  # time for a second send of any row, were there one
    finally:
        for worker in workers:
            worker.stop()
    for spawn in spawns:
        spawn.join()
    rows = list(stores[0]().scalars(select(Delivery)))
    for sessions, engine in zip(stores, engines, strict=True):
        sessions.remove()
        engine.dispose()
    return rows, [len(spawn.started) - 1 for spawn in spawns]  # but the loop, each thread is a call


def assert_each_sent_once(rows: list[Delivery], calls: list[int], hook: WebhookReceiver) -> None:
    sent = [body["alerts"][0]["fingerprint"] for body in hook.bodies]
    assert len(sent) == len(set(sent)) == len(rows) == sum(calls)
    assert {(row.status, row.attempts) for row in rows} == {("delivered", 1)}
    assert min(calls) > 0, calls  # both took part


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_workers_on_one_database_never_send_a_row_twice(database, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'shared.db'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    with WebhookReceiver(statuses=[200], delay=0.02) as hook:  # calls take a while, so the two overlap
        rows, calls = run_two_workers(url, hook, receivers=6, each=5)
    assert_each_sent_once(rows, calls, hook)


def test_of_two_claims_on_one_row_only_the_first_takes_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    (first_engine, first), (second_engine, second) = make_store(url), make_store(url)
    [delivery_id] = Rig(first).queue("http://127.0.0.1:9/hook")
    workers = [DeliveryWorker(sessions, SETTINGS, Threads(), time.sleep) for sessions in (first, second)]
    taken = []
    for worker, sessions in zip(workers, (first, second), strict=True):
        taken.append(worker.claim(sessions(), delivery_id, 0, NOW))
        sessions.commit()
    assert taken == [True, False]
    for sessions, engine in ((first, first_engine), (second, second_engine)):
        sessions.remove()
        engine.dispose()


def test_wake_cuts_the_wait_between_polls(store):
    worker = DeliveryWorker(store, SETTINGS, Threads(), time.sleep, poll_interval=30)
    worker.start()
    try:
        time.sleep(0.2)  # the first pass found nothing; the loop now waits up to 30 s
        with WebhookReceiver(statuses=[200]) as hook:
            Rig(store).queue(hook.url)
            worker.wake()
            hook.wait_for(1, timeout=2)
    finally:
        worker.stop()


def test_a_database_outage_does_not_end_the_loop(tmp_path, caplog):
    engine, sessions = make_store(f"sqlite:///{tmp_path / 'gone.db'}")
    engine.dispose()
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # the path is now a directory: every connection fails
    worker = DeliveryWorker(sessions, SETTINGS, Threads(), time.sleep)
    with caplog.at_level(logging.WARNING, logger="services.alerts.delivery_worker"):
        worker.run_once()
        worker.run_once()
    assert len([record for record in caplog.records if "delivery pass failed" in record.message]) == 2
    engine.dispose()
