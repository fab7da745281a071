"""The dashboard's headline numbers, computed from indexed reads and rollups in a few milliseconds."""
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from database import RevenueRollup, Transaction, UserActivity
from services.analytics.time_buckets import floor_time
from services.ingest.event_schema import amount_text
from services.monitoring import performance


def business_kpis(session: Session, now: datetime) -> dict:
    """Revenue today (per currency), transactions in the last minute, success rate this hour, active users."""
    today = floor_time(now, "1d")
    revenue_rows = session.execute(
        select(RevenueRollup.currency, func.sum(RevenueRollup.amount_e4), func.sum(RevenueRollup.count))
        .where(RevenueRollup.status == "completed", RevenueRollup.hour >= today)
        .group_by(RevenueRollup.currency)).all()
    # Amounts in different currencies do not compare (a yen is not a dollar), so the main one has the most sales.
    revenue = sorted(((currency, int(amount), int(count)) for currency, amount, count in revenue_rows),
                     key=lambda row: -row[2])
    return {"revenue_today": {currency: amount_text(amount) for currency, amount, _ in revenue},
            "revenue_currency": revenue[0][0] if revenue else None,
            "transactions_today": sum(count for _, _, count in revenue),
            "transactions_per_minute": transaction_count(session, now - timedelta(minutes=1)),
            "success_rate": success_rate(session, now - timedelta(hours=1)),
            "active_users": active_users(session, now - timedelta(minutes=5))}


def transaction_count(session: Session, since: datetime, until: datetime | None = None) -> int:
    """Transactions of any status that occurred since `since` (and before `until`)."""
    return session.scalar(select(func.count()).select_from(Transaction)
                          .where(*_between(Transaction.occurred_at, since, until)))


def active_users(session: Session, since: datetime, until: datetime | None = None) -> int:
    """Distinct users with activity since `since` (and before `until`)."""
    return session.scalar(select(func.count(func.distinct(UserActivity.user_id)))
                          .where(*_between(UserActivity.occurred_at, since, until)))


def _between(column, since: datetime, until: datetime | None) -> tuple:
    return (column >= since,) if until is None else (column >= since, column < until)


def success_rate(session: Session, since: datetime, until: datetime | None = None) -> float | None:
    """Completed over completed-or-failed, from transactions since `since` (pending and refunds aside)."""
    rows = dict(session.execute(select(Transaction.status, func.count())
                                .where(*_between(Transaction.occurred_at, since, until),
                                       Transaction.status.in_(("completed", "failed")))
                                .group_by(Transaction.status)).all())
    settled = rows.get("completed", 0) + rows.get("failed", 0)
    return round(rows.get("completed", 0) / settled, 4) if settled else None


def live_snapshot(session: Session, runtime, now: datetime) -> dict:
    """What metrics/live answers and live_update pushes: KPIs, this process's host sample, last-minute performance."""
    return {"ts": now.isoformat(), "host": runtime.latest_sample,
            "performance": performance.summary(session, now - timedelta(minutes=1), now,
                                               runtime.monitor.snapshot_unflushed()),
            "monitor_overhead_us": runtime.monitor.overhead_us(),
            "kpis": business_kpis(session, now)}
