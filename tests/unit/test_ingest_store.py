"""services.ingest.writer on both databases: raw bulk writes read back exactly through the models and rollups."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from database import MetricRollup, RevenueRollup, Transaction, UserActivity
from services.ingest import event_schema, writer
from services.ingest.bulk_sql import STAGING_TABLES, BulkSql
from services.monitoring.histogram import LogHistogram

NOW = datetime(2026, 3, 4, 10, 20, 30, 123456, tzinfo=UTC)


@pytest.fixture
def session(any_db_session):
    return any_db_session


def store(session, payload):
    rows, errors = event_schema.parse_batch(payload, NOW)
    assert errors == []
    stored = writer.store_batch(session, rows)
    session.commit()
    return stored


def tx(id, amount, status="completed", at=NOW, currency="USD"):
    return {"id": id, "amount": amount, "currency": currency, "status": status, "user_id": "u",
            "timestamp": at.isoformat(), "metadata": {"n": 1}}


def test_rows_read_back_through_the_models(session):
    store(session, {"transactions": [tx("a", "12.3456")],
                    "activities": [{"user_id": "u", "action": "login", "timestamp": NOW.isoformat()}]})
    row = session.scalar(select(Transaction))
    assert (row.external_id, row.amount_e4, row.occurred_at, row.details) == ("a", 123456, NOW, {"n": 1})
    assert row.updated_at.tzinfo is UTC
    assert session.scalar(select(UserActivity.occurred_at)) == NOW


def test_rollups_equal_the_rows_after_repeats_and_moves(session):
    earlier = NOW - timedelta(hours=3)
    store(session, {"transactions": [tx("a", "10"), tx("b", "5", "pending"), tx("c", "7", at=earlier)]})
    store(session, {"transactions": [tx("b", "5"), tx("c", "7", "refunded", at=earlier), tx("d", "1", "failed")]})
    truth = dict(session.execute(select(Transaction.status, func.sum(Transaction.amount_e4))
                                 .group_by(Transaction.status)).all())
    rolled = dict(session.execute(select(RevenueRollup.status, func.sum(RevenueRollup.amount_e4))
                                  .group_by(RevenueRollup.status)).all())
    assert {status: total for status, total in rolled.items() if total} == truth == {
        "completed": 150000, "refunded": 70000, "failed": 10000}
    assert session.scalar(select(func.count()).select_from(Transaction)) == 4


def test_a_repeat_moves_its_revenue_to_another_hour_and_currency(session):
    """Each (hour, currency, status) rollup equals its rows after repeats that move hour and currency, one of them
    repeated inside its own batch (the last wins)."""
    later = NOW + timedelta(hours=2)
    store(session, {"transactions": [tx("a", "10"), tx("b", "5"), tx("c", "3", "pending")]})
    store(session, {"transactions": [tx("a", "10", at=later), tx("b", "6", currency="EUR"), tx("b", "4", currency="GBP"),
                                     tx("e", "2")]})
    hour = lambda moment: moment.replace(minute=0, second=0, microsecond=0)  # noqa: E731
    truth = {}
    for row in session.scalars(select(Transaction)):
        count, amount = truth.get((hour(row.occurred_at), row.currency, row.status), (0, 0))
        truth[(hour(row.occurred_at), row.currency, row.status)] = (count + 1, amount + row.amount_e4)
    rolled = {(row.hour, row.currency, row.status): (row.count, row.amount_e4)
              for row in session.scalars(select(RevenueRollup)) if row.count or row.amount_e4}
    assert rolled == truth
    assert truth[(hour(NOW), "GBP", "completed")] == (1, 40000) and (hour(later), "USD", "completed") in truth


def test_staging_tables_are_remembered_only_once_committed(session):
    """A rolled-back transaction drops the staging tables it created; a write after it creates them again."""
    rows, _ = event_schema.parse_batch({"transactions": [tx("a", "10")]}, NOW)
    bulk = BulkSql(session)
    writer.store_rows(bulk, rows)
    session.rollback()
    bulk = BulkSql(session)
    writer.store_rows(bulk, rows)
    bulk.commit()
    session.commit()
    remembered = BulkSql(session).connection.info.get(STAGING_TABLES, set())
    assert remembered == (set() if bulk.sqlite else {"incoming_transactions"})
    store(session, {"transactions": [tx("b", "1")]})
    store(session, {"transactions": [tx("a", "2")]})
    assert session.execute(select(RevenueRollup.count, RevenueRollup.amount_e4)).all() == [(2, 30000)]


def test_two_writes_in_one_transaction_each_count_once(session):
    """On PostgreSQL the rows go through staging tables that live as long as the connection: the second write of a
    transaction must not see the first's rows there again."""
    point = {"name": "lat", "value": 2, "timestamp": NOW.isoformat()}
    for id in ("a", "b"):
        rows, _ = event_schema.parse_batch({"transactions": [tx(id, "10")], "metrics": [point]}, NOW)
        writer.store_batch(session, rows)
    session.commit()
    assert session.execute(select(RevenueRollup.count, RevenueRollup.amount_e4)).all() == [(2, 200000)]
    assert {row.count for row in session.scalars(select(MetricRollup))} == {2}


def test_metric_rollups_merge_across_batches(session):
    first = [{"name": "lat", "value": v, "tags": {"r": "eu"}, "timestamp": NOW.isoformat()} for v in range(1, 51)]
    second = [{"name": "lat", "value": v, "tags": {"r": "eu"}, "timestamp": NOW.isoformat()} for v in range(51, 101)]
    store(session, {"metrics": first})
    store(session, {"metrics": second + [{"name": "lat", "value": 5, "tags": {"r": "us"}}]})
    eu = session.scalars(select(MetricRollup).where(MetricRollup.tags_key == '{"r":"eu"}')).all()
    assert sorted(row.bucket for row in eu) == ["1d", "1h", "1m", "5m"]
    for row in eu:
        assert (row.count, row.sum, row.min, row.max) == (100, 5050, 1, 100)
        assert row.bucket_start <= NOW
        assert LogHistogram.from_dict(row.histogram).percentile(95) == pytest.approx(95, rel=0.06)
    assert session.scalar(select(func.count()).select_from(MetricRollup)) == 8


@pytest.mark.parametrize("period, buckets_with_sales", [("hourly", 2), ("daily", 2), ("weekly", 1)])
def test_revenue_buckets_on_each_database(session, period, buckets_with_sales):
    from services.analytics import business

    day_before = NOW - timedelta(days=1)
    store(session, {"transactions": [tx("a", "10"), tx("b", "2.5"), tx("c", "4", at=day_before),
                                     tx("d", "99", currency="EUR"), tx("e", "1", "failed")]})
    start, end = NOW - timedelta(days=2), NOW + timedelta(hours=1)
    if period == "weekly":
        start, end = NOW - timedelta(days=1, hours=1), NOW + timedelta(hours=1)  # one ISO week: Mon 2 - Wed 4 March
    body = business.revenue(session, period, start, end)
    assert body["currency"] == "USD" and body["currencies"] == ["USD", "EUR"]
    assert body["summary"]["total"] == "16.50" and body["summary"]["count"] == 3
    assert sum(1 for bucket in body["buckets"] if bucket["count"]) == buckets_with_sales
