"""services.ingest.metric_rollups on both databases: remembered rollups merge exactly, also when another writer
(another process, here another GroupCommit on its own connection) wrote the same rows in between."""
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import MetricRollup
from services.ingest import event_schema
from services.ingest.group_commit import GroupCommit

NOW = datetime(2026, 3, 4, 10, 20, 30, tzinfo=UTC)


@pytest.fixture
def session(any_db_session):
    return any_db_session


def points(*values: float) -> dict[str, list[dict]]:
    parsed, errors = event_schema.parse_batch({"metrics": [
        {"name": "queue.depth", "value": value, "timestamp": NOW.isoformat(), "tags": {"host": "a"}} for value in values]},
        NOW)
    assert errors == []
    return parsed


def rollups(session: Session) -> dict[str, tuple]:
    with Session(session.get_bind()) as reader:
        return {row.bucket: (row.count, row.sum, row.min, row.max, row.histogram)
                for row in reader.scalars(select(MetricRollup))}


def test_a_writer_that_remembers_its_rollups_stores_what_one_write_of_all_points_stores(session):
    remembering = GroupCommit()
    for value in (1.0, 5.0, 250.0):
        remembering.store(session, points(value))
    remembered = rollups(session)
    assert remembered["1m"][:4] == (3, 256.0, 1.0, 250.0)
    with Session(session.get_bind()) as other:
        other.execute(MetricRollup.__table__.delete())
        other.commit()
    GroupCommit().store(session, points(1.0, 5.0, 250.0))
    assert rollups(session) == remembered


def test_a_rollup_another_writer_changed_is_read_again_not_taken_from_memory(session):
    this_process, other_process = GroupCommit(), GroupCommit()
    this_process.store(session, points(2.0))
    this_process.store(session, points(8.0))  # an update: remembered with count 2
    with Session(session.get_bind()) as other:
        other_process.store(other, points(40.0, 3000.0))
    this_process.store(session, points(0.5))  # its memory says count 2; the row says 4
    for count, total, low, high, histogram in rollups(session).values():
        assert (count, total, low, high) == (5, 3050.5, 0.5, 3000.0)
        assert sum(histogram.values()) == 5

