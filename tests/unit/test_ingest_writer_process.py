"""services.ingest.writer_process on both databases: a real child process stores batches, answers errors,
survives nothing it should not, and goes away when idle. The server-level faults are in tests/e2e."""
import os
import signal
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from database import MetricRollup, RevenueRollup, Transaction, UserActivity
from services.ingest import event_schema
from services.ingest.group_commit import GroupCommit
from services.ingest.writer_process import WriterProcess, build_ingest_writer

NOW = datetime(2026, 3, 4, 10, 20, 30, tzinfo=UTC)


@pytest.fixture
def session(any_db_session):
    return any_db_session


@pytest.fixture
def writer_process(session):
    writer = WriterProcess(session.get_bind().url.render_as_string(hide_password=False))
    yield writer
    stop(writer)


def stop(writer: WriterProcess) -> None:
    if writer.child is not None:
        writer.child.process.kill()
        writer.child.process.wait(timeout=10)


def batch(prefix: str, transactions: int = 3) -> dict:
    rows, errors = event_schema.parse_batch({
        "transactions": [{"id": f"{prefix}-{index}", "amount": "2.50", "currency": "USD", "status": "completed",
                          "user_id": "u", "timestamp": NOW.isoformat()} for index in range(transactions)],
        "activities": [{"user_id": "u", "action": "login", "timestamp": NOW.isoformat()}],
        "metrics": [{"name": "queue.depth", "value": 4.0, "timestamp": NOW.isoformat(), "tags": {"host": "a"}}]}, NOW)
    assert errors == []
    return rows


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def counts(session) -> tuple:
    session.rollback()  # a fresh snapshot: the child committed on its own connection
    return (session.scalar(select(func.count()).select_from(Transaction)),
            session.scalar(select(func.count()).select_from(UserActivity)),
            session.scalar(select(func.sum(RevenueRollup.count))),
            session.scalar(select(func.sum(MetricRollup.count)).where(MetricRollup.bucket == "1m")))


def test_a_child_stores_batches_and_answers_what_was_stored(session, writer_process):
    first = batch("a") | {"transactions": batch("a")["transactions"] + batch("a", 1)["transactions"]}  # a repeat
    stored = writer_process.store(session, first)
    assert [row["external_id"] for row in stored["transactions"]] == ["a-0", "a-1", "a-2"]  # the repeat's last
    child = writer_process.child.process
    assert child.pid != os.getpid() and child.poll() is None
    writer_process.store(session, batch("b"))
    assert writer_process.child.process is child  # one child serves every batch
    assert counts(session) == (6, 2, 6, 2)


def test_the_databases_error_reaches_the_caller_and_the_child_stays(session, writer_process):
    writer_process.store(session, batch("a"))
    child = writer_process.child.process
    session.execute(text("ALTER TABLE user_activities RENAME TO user_activities_away"))
    session.commit()
    with pytest.raises(DBAPIError, match="user_activities"):  # as the driver raised it: no table
        writer_process.store(session, batch("b"))
    session.execute(text("ALTER TABLE user_activities_away RENAME TO user_activities"))
    session.commit()
    writer_process.store(session, batch("c"))
    assert writer_process.child.process is child
    assert counts(session)[:2] == (6, 2)  # nothing of the failed batch, all of the others


def test_a_killed_child_fails_only_what_it_held_and_the_next_batch_starts_another(session, writer_process):
    writer_process.store(session, batch("a"))
    killed = writer_process.child.process
    killed.send_signal(signal.SIGKILL)
    wait_until(lambda: writer_process.child is None)  # the reader saw it go
    writer_process.store(session, batch("b"))
    assert writer_process.child.process.pid != killed.pid
    assert counts(session)[0] == 6
    assert writer_process.health() == {"status": "ok", "mode": "process", "pid": writer_process.child.process.pid,
                                       "waiting": 0, "started": 2, "ended_early": 1, "last_exit": -signal.SIGKILL}


def test_an_idle_child_is_let_go_and_comes_back_with_the_next_batch(session):
    writer = WriterProcess(session.get_bind().url.render_as_string(hide_password=False), idle_seconds=0.3)
    try:
        writer.store(session, batch("a"))
        first = writer.child.process
        wait_until(lambda: first.poll() is not None)
        assert first.returncode == 0 and writer.child is None  # it read the end of its input and exited
        wait_until(lambda: writer.last_exit == 0)
        assert writer.health() | {"last_exit": 0} == {"status": "ok", "mode": "process", "pid": None, "waiting": 0,
                                                       "started": 1, "ended_early": 0, "last_exit": 0}
        writer.store(session, batch("b"))
        assert writer.child.process.pid != first.pid
        assert counts(session)[0] == 6
    finally:
        stop(writer)


def test_a_child_that_hangs_gets_the_sender_an_error_not_a_hang(session):
    writer = WriterProcess(session.get_bind().url.render_as_string(hide_password=False), answer_seconds=0.5)
    try:
        writer.store(session, batch("a"))
        writer.child.process.send_signal(signal.SIGSTOP)
        with pytest.raises(OperationalError, match="did not answer within 0.5 s"):
            writer.store(session, batch("b"))
        writer.child.process.send_signal(signal.SIGCONT)
        writer.store(session, batch("c"))  # the stalled batch is written too: a 503 may come after the commit
        assert counts(session)[0] == 9
    finally:
        stop(writer)


def test_in_memory_databases_and_the_inline_setting_store_in_process():
    assert isinstance(build_ingest_writer("sqlite://", "process"), GroupCommit)
    assert isinstance(build_ingest_writer("sqlite:////tmp/x.db", "inline"), GroupCommit)
    assert isinstance(build_ingest_writer("sqlite:////tmp/x.db", "process"), WriterProcess)
