"""The alert evaluator's writes carry the leader's fencing token, checked in the database (issue 16): a pass whose
token is older than one already written is refused whole, and two leaders' write stretches never overlap; a leader
whose counter Redis lost raises its token above the row's. On a file SQLite and on PostgreSQL, with one session per
"process"."""
import logging
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app_factory import evaluator_fence
from database import Alert, AlertTransition, Base, Delivery, LeaderFence, Notification, create_database_engine
from services.alerts import evaluator
from services.alerts.fence import FENCE, Fence
from services.cluster.lease import Lease
from services.monitoring.performance import RequestMonitor
from services.realtime.hub import EventHub
from tests.fakes import FakeClock
from tests.unit.test_alert_evaluator import CONFIG, T0, Clock, add_rule, push, receiver
from tests.unit.test_cluster_leader_fence import process as cluster_process

WRITTEN = (Alert, AlertTransition, Delivery, Notification)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'fence.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    # A timeout, so that a write stretch left waiting on the other fails the test instead of hanging it.
    engine = create_database_engine(url, timeout=10)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def setup(engine):
    """A session for arranging the test: a rule over its threshold and a receiver, so a pass writes everything."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def process(engine, clock):
    """Start one server process: its session, its pushes, and its evaluator leading with fencing token `token` (of a
    lease it no longer holds, so it cannot raise it), or with the fence of a real lease."""
    sessions = []

    def start(token=None, is_evaluator=lambda: True, fenced=True, fence=None) -> SimpleNamespace:
        hub, pushed = EventHub(1000, 300.0), []
        hub.subscribe(lambda channel, items: pushed.append(channel))
        runtime = SimpleNamespace(hub=hub, monitor=RequestMonitor("web-1", 1, clock=FakeClock(T0.timestamp())))
        loop = evaluator.Evaluator(runtime, evaluator.Settings.of(CONFIG), clock=clock, is_evaluator=is_evaluator,
                                   fence=fence or (Fence(lambda: token, not_holding) if fenced else None))
        sessions.append(Session(engine, expire_on_commit=False))
        return SimpleNamespace(pushed=pushed, run=lambda session=sessions[-1]: loop.run(session))

    yield start
    for session in sessions:
        session.close()


def not_holding(floor: int) -> None:
    """A process's lease raising its token when the process does not hold the lease: it cannot."""
    return None


def firing_rule(session, clock) -> None:
    add_rule(session)
    receiver(session)
    push(session, 150, clock.now)


def counts(session) -> dict[str, int]:
    session.rollback()  # a fresh snapshot: another session wrote
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) for model in WRITTEN}


def fence_token(session) -> int | None:
    session.rollback()
    return session.scalar(select(LeaderFence.token).where(LeaderFence.name == FENCE))


NOTHING = {"alerts": 0, "alert_transitions": 0, "deliveries": 0, "notifications": 0}
ONE_FIRING = {"alerts": 1, "alert_transitions": 1, "deliveries": 1, "notifications": 1}


def test_a_pass_older_than_a_written_token_is_refused_with_nothing_written(process, setup, clock, caplog):
    new, old = process(token=2), process(token=1)
    assert new.run() is not None  # no rule yet: it writes its token alone
    firing_rule(setup, clock)
    with caplog.at_level(logging.WARNING, logger="services.alerts.fence"):
        assert old.run() is None
    assert counts(setup) == NOTHING and old.pushed == []
    assert fence_token(setup) == 2
    # Refused before the write stretch: it reads the row at its holding's first pass, and cannot raise its token.
    assert [record.levelname for record in caplog.records] == ["WARNING"] and "token 1 is not above 2" in caplog.text
    assert new.run().changes and counts(setup) == ONE_FIRING  # the same pass, with the newer token, writes it all


def test_an_equal_or_newer_token_is_accepted(process, setup, clock):
    firing_rule(setup, clock)
    first, successor = process(token=1), process(token=2)
    assert first.run().changes and fence_token(setup) == 1
    clock.advance(10)
    assert first.run() is not None  # its own token again
    clock.advance(10)
    assert successor.run() is not None and fence_token(setup) == 2
    assert counts(setup) == ONE_FIRING  # the successor carried on the first one's instance
    assert first.pushed == ["alert", "notification"] and successor.pushed == []


def test_a_process_alone_writes_no_fence(engine, process, setup, clock):
    firing_rule(setup, clock)
    alone = process(fenced=False)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda connection, cursor, statement, *rest: statements.append(statement))
    assert alone.run().changes and counts(setup) == ONE_FIRING
    assert not [statement for statement in statements if "leader_fences" in statement]
    assert fence_token(setup) is None


def test_a_cluster_process_without_a_token_runs_no_pass(process, setup, clock):
    firing_rule(setup, clock)
    assert process(token=None).run() is None
    assert counts(setup) == NOTHING and fence_token(setup) is None


def test_a_leader_paused_past_its_checks_is_refused_once_a_newer_one_has_written(process, setup, clock):
    firing_rule(setup, clock)
    new = process(token=2)

    def lease_lost_meanwhile() -> bool:
        """The old leader passed its check; then it pauses, and the new leader runs a pass and commits. It never
        learns it lost the lease, so its check before the commit passes too."""
        if not new.pushed:
            assert new.run().changes
        return True

    old = process(token=1, is_evaluator=lease_lost_meanwhile)
    assert old.run() is None
    assert counts(setup) == ONE_FIRING and old.pushed == [] and fence_token(setup) == 2


def test_a_newer_leaders_write_stretch_waits_for_the_older_ones_commit_and_reads_it(engine, process, setup, clock):
    add_rule(setup, for_seconds=30)
    receiver(setup)
    push(setup, 150, clock.now)
    new = process(token=2)
    claiming, outcome, checks = threading.Event(), {}, []

    def noticed(connection, cursor, statement, *rest):
        if threading.current_thread().name == "new leader" and statement.startswith("UPDATE leader_fences"):
            claiming.set()

    def new_pass():
        try:
            outcome["report"] = new.run()
        except Exception as error:  # raised by the test's own thread below
            outcome["error"] = error

    def lease_lost_before_the_commit() -> bool:
        """Two checks a pass: at the second pass's second one the old leader has claimed the fence row and moved the
        instance to firing; before it commits, the new leader's pass reaches its own claim."""
        checks.append(True)
        if len(checks) == 4:
            thread.start()
            assert claiming.wait(10), "the new leader never reached its claim"
            thread.join(0.5)
            assert thread.is_alive(), "the new leader's write stretch did not wait for the old one's"
        return True

    thread = threading.Thread(target=new_pass, name="new leader")
    old = process(token=1, is_evaluator=lease_lost_before_the_commit)
    event.listen(engine, "before_cursor_execute", noticed)
    assert old.run().changes  # pending
    clock.advance(40)
    assert old.run().changes  # firing, committed while the new leader waits
    thread.join(15)
    assert "error" not in outcome, outcome.get("error")
    # The new leader loaded the instance as the old one committed it (firing): it has nothing to change, where a
    # load from before that commit would move it from pending to firing again and notify twice.
    assert outcome["report"] is not None and outcome["report"].changes == [] and new.pushed == []
    assert counts(setup) == ONE_FIRING | {"alert_transitions": 2} and fence_token(setup) == 2


def test_a_leader_whose_fence_counter_redis_lost_raises_it_above_the_row_while_older_leaders_stay_refused(
        engine, process, setup, clock, redis, cluster_name, caplog):
    old = process(token=57)  # the leader before Redis restarted empty: the counter had reached 57
    assert old.run() is not None and fence_token(setup) == 57  # no rule yet: it writes its token alone
    firing_rule(setup, clock)
    member = cluster_process(redis, cluster_name, 31)  # a cluster of its own: its counter starts again at 1
    assert member.lease.refresh() and member.lease.fence == 1
    leader = process(fence=evaluator_fence(member))
    with caplog.at_level(logging.WARNING, logger="services.alerts.fence"):
        assert leader.run().changes
    assert "fence counter behind the database: raised from 1 to 58" in caplog.text
    assert counts(setup) == ONE_FIRING and fence_token(setup) == 58
    assert member.lease.fence == 58 and int(redis.get(member.lease.fence_key)) == 58 and member.fence()[1] == 58

    statements = []
    event.listen(engine, "before_cursor_execute", lambda connection, cursor, statement, *rest: statements.append(statement))
    clock.advance(10)
    assert leader.run() is not None
    assert not [statement for statement in statements if statement.startswith("SELECT") and "leader_fences" in statement]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="services.alerts.fence"):
        assert old.run() is None  # paused past its checks: the database refuses its claim
        lost = Lease(redis, cluster_name, "leader", "test-host:32")
        lost.fence = 1  # took the fresh counter's 1 and lost the lease before its first pass
        assert process(fence=Fence(lambda: lost.fence, lost.raise_fence_above)).run() is None
    assert "token 57 is older than 58" in caplog.text and "token 1 is not above 58" in caplog.text
    assert counts(setup) == ONE_FIRING and fence_token(setup) == 58 and int(redis.get(member.lease.fence_key)) == 58
