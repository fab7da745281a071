"""services.ingest.group_commit on both databases: stored means committed, and a failed write locks nobody out."""
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from database import Transaction
from services.ingest import event_schema
from services.ingest.group_commit import GroupCommit

NOW = datetime(2026, 3, 4, 10, 20, 30, tzinfo=UTC)


@pytest.fixture
def session(any_db_session):
    return any_db_session


def rows(*ids: str) -> dict[str, list[dict]]:
    parsed, errors = event_schema.parse_batch({"transactions": [
        {"id": id, "amount": "2.50", "currency": "USD", "status": "completed", "user_id": "u"} for id in ids]}, NOW)
    assert errors == []
    return parsed


def stored_count(session: Session) -> int:
    with Session(session.get_bind()) as reader:  # another connection: sees only what was committed
        return reader.scalar(select(func.count()).select_from(Transaction))


def test_a_stored_batch_is_committed(session):
    stored = GroupCommit().store(session, rows("a", "b", "a"))
    assert [row["external_id"] for row in stored["transactions"]] == ["a", "b"]  # a repeat in the batch is one row
    assert stored_count(session) == 2


def test_a_failed_write_reaches_its_caller_and_the_next_batch_is_stored(session):
    group = GroupCommit()
    broken = rows("x")
    del broken["transactions"][0]["status"]
    with pytest.raises(KeyError):
        group.store(session, broken)
    group.store(session, rows("y"))  # the failed write was rolled back, not left open in the session
    assert stored_count(session) == 1


def test_batches_stored_from_several_threads_are_all_committed(session):
    group, bind = GroupCommit(), session.get_bind()

    def send(sender: int) -> None:
        with Session(bind) as own:
            for batch in range(5):
                group.store(own, rows(*(f"t{sender}-{batch}-{n}" for n in range(20))))

    threads = [threading.Thread(target=send, args=(sender,)) for sender in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stored_count(session) == 4 * 5 * 20
