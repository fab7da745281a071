from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from database import ApiKey, AuditEntry, Transaction, User


def make_transaction(external_id="t-1", **fields):
    values = dict(external_id=external_id, amount_e4=12_3400, currency="EUR", status="completed",
                  user_id="u-1", occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    return Transaction(**(values | fields))


def test_datetimes_come_back_aware_and_in_utc(db_session):
    paris = timezone(timedelta(hours=1))
    db_session.add(make_transaction(occurred_at=datetime(2026, 1, 2, 4, 4, 5, tzinfo=paris)))
    db_session.commit()
    db_session.expunge_all()
    stored = db_session.scalar(select(Transaction))
    assert stored.occurred_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert stored.occurred_at.tzinfo is UTC


def test_naive_datetimes_are_refused(db_session):
    db_session.add(make_transaction(occurred_at=datetime(2026, 1, 2)))
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()


def test_sender_transaction_ids_are_unique(db_session):
    db_session.add_all([make_transaction("same"), make_transaction("same")])
    with pytest.raises(IntegrityError):
        db_session.flush()


def test_defaults_are_computed_per_row_not_at_import(db_session):
    first = AuditEntry(actor="a", action="x")
    db_session.add(first)
    db_session.flush()
    second = AuditEntry(actor="a", action="y")
    db_session.add(second)
    db_session.flush()
    assert first.at <= second.at <= datetime.now(UTC)
    assert first.details == {} and first.details is not second.details


def test_user_roles_drive_the_admin_flag(db_session):
    admin = User(username="a", password_hash="x", role="admin")
    viewer = User(username="v", password_hash="x", role="viewer")
    assert admin.is_admin and not viewer.is_admin
    assert admin.is_authenticated and not admin.is_anonymous


def test_api_key_hashes_are_unique(db_session):
    db_session.add_all([ApiKey(name="a", prefix="pb_1", key_hash="h"), ApiKey(name="b", prefix="pb_2", key_hash="h")])
    with pytest.raises(IntegrityError):
        db_session.flush()
