"""Business analytics from rollups and indexed reads: revenue, transaction flow, recent transactions, activity."""
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, func, select
from sqlalchemy.orm import Session

from database import RevenueRollup, Transaction, UserActivity
from services.analytics.time_buckets import RangeError, bucket_starts, floor_time
from services.ingest.event_schema import amount_text

PERIOD_BUCKETS = {"hourly": "1h", "daily": "1d", "weekly": "1w"}
DEFAULT_SPANS = {"hourly": timedelta(hours=24), "daily": timedelta(days=30), "weekly": timedelta(weeks=12)}
BUCKET_LENGTHS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
MAX_BUCKETS = 800


def revenue_range(period: str, start: datetime | None, end: datetime | None, now: datetime):
    """The range a revenue query covers: defaults per period, and at most MAX_BUCKETS buckets."""
    end = end or now
    start = start or end - DEFAULT_SPANS[period]
    if start >= end:
        raise RangeError("start must be before end")
    if (end - start) / BUCKET_LENGTHS[period] > MAX_BUCKETS:
        raise RangeError(f"the range holds more than {MAX_BUCKETS} {period} buckets; narrow it or use a longer period")
    return start, end


def revenue(session: Session, period: str, start: datetime, end: datetime, currency: str | None = None) -> dict:
    """Completed revenue per bucket (total, count, average) and a summary, in one currency."""
    bucket = PERIOD_BUCKETS[period]
    in_range = (RevenueRollup.status == "completed", RevenueRollup.hour >= floor_time(start, "1h"),
                RevenueRollup.hour < end)
    # Amounts in different currencies do not compare, so the default currency is the one with the most sales.
    currencies = [row[0] for row in session.execute(
        select(RevenueRollup.currency).where(*in_range).group_by(RevenueRollup.currency)
        .order_by(func.sum(RevenueRollup.count).desc(), RevenueRollup.currency))]
    chosen = currency or (currencies[0] if currencies else None)
    totals: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for moment, count, amount in revenue_rows(session, bucket, (*in_range, RevenueRollup.currency == chosen)):
        entry = totals[floor_time(moment, bucket)]
        entry[0] += int(count)
        entry[1] += int(amount)
    buckets = [bucket_entry(moment, *totals.get(moment, (0, 0))) for moment in bucket_starts(start, end, bucket)]
    return {"period": period, "start": start.isoformat(), "end": end.isoformat(), "currency": chosen,
            "currencies": currencies, "buckets": buckets, "summary": revenue_summary(buckets, totals)}


def revenue_rows(session: Session, bucket: str, conditions: tuple) -> list[tuple[datetime, int, int]]:
    """(moment, count, amount) per hour, or per UTC day summed in the database for daily and weekly views."""
    if bucket == "1h":
        return session.execute(select(RevenueRollup.hour, RevenueRollup.count, RevenueRollup.amount_e4)
                               .where(*conditions)).all()
    day = utc_day(session, RevenueRollup.hour)
    rows = session.execute(select(day, func.sum(RevenueRollup.count), func.sum(RevenueRollup.amount_e4))
                           .where(*conditions).group_by(day)).all()
    return [(as_utc(moment), count, amount) for moment, count, amount in rows]


def utc_day(session: Session, column):
    """The UTC day of a timestamp column, computed by the database (SQLite keeps UTC text; PostgreSQL a zone)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, 1, 10, type_=String)
    return func.date_trunc("day", func.timezone("UTC", column), type_=DateTime)


def as_utc(moment) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC)


def bucket_entry(moment: datetime, count: int, amount_e4: int) -> dict:
    return {"start": moment.isoformat(), "total": amount_text(amount_e4), "count": count,
            "average": amount_text(amount_e4 // count) if count else "0.00"}


def revenue_summary(buckets: list[dict], totals: dict) -> dict:
    count = sum(value[0] for value in totals.values())
    amount = sum(value[1] for value in totals.values())
    peak = max(buckets, key=lambda entry: totals.get(datetime.fromisoformat(entry["start"]), (0, 0))[1], default=None)
    return {"total": amount_text(amount), "count": count, "average": amount_text(amount // count) if count else "0.00",
            "peak": {"start": peak["start"], "total": peak["total"]} if peak and peak["count"] else None}


def completed_revenue(session: Session, since: datetime, until: datetime) -> Counter:
    """Completed amount_e4 per currency over exactly [since, until): whole hours from the hourly rollups, the
    partial hours at either edge summed from the transactions (over the occurred_at, status index)."""
    since_hour = floor_time(since, "1h")
    whole_from = since_hour if since_hour == since else since_hour + timedelta(hours=1)
    whole_to = floor_time(until, "1h")
    totals: Counter = Counter()
    edges = [(since, until)]
    if whole_from < whole_to:
        totals.update(dict(session.execute(
            select(RevenueRollup.currency, func.sum(RevenueRollup.amount_e4))
            .where(RevenueRollup.status == "completed", RevenueRollup.hour >= whole_from, RevenueRollup.hour < whole_to)
            .group_by(RevenueRollup.currency)).all()))
        edges = [(since, whole_from), (whole_to, until)]
    for start, end in edges:
        if start < end:
            totals.update(dict(session.execute(
                select(Transaction.currency, func.sum(Transaction.amount_e4))
                .where(Transaction.status == "completed", Transaction.occurred_at >= start, Transaction.occurred_at < end)
                .group_by(Transaction.currency)).all()))
    return totals


def transaction_flow(session: Session, since: datetime, until: datetime) -> dict:
    """Counts and amounts per status (amounts per currency), from the hourly rollups."""
    rows = session.execute(
        select(RevenueRollup.status, RevenueRollup.currency, func.sum(RevenueRollup.count),
               func.sum(RevenueRollup.amount_e4))
        .where(RevenueRollup.hour >= floor_time(since, "1h"), RevenueRollup.hour < until)
        .group_by(RevenueRollup.status, RevenueRollup.currency)).all()
    statuses: dict[str, dict] = {}
    for status, currency, count, amount in rows:
        if not count:  # every transaction of this group moved on to another status
            continue
        entry = statuses.setdefault(status, {"status": status, "count": 0, "amounts": {}})
        entry["count"] += int(count)
        entry["amounts"][currency] = amount_text(int(amount))
    counts = Counter({status: entry["count"] for status, entry in statuses.items()})
    settled = counts["completed"] + counts["failed"]
    return {"since": since.isoformat(), "until": until.isoformat(),
            "statuses": sorted(statuses.values(), key=lambda e: e["status"]),
            "total_count": sum(counts.values()),
            "success_rate": round(counts["completed"] / settled, 4) if settled else None}


def recent_transactions(session: Session, limit: int, status: str | None = None, since: datetime | None = None) -> list[dict]:
    query = select(Transaction).order_by(Transaction.occurred_at.desc(), Transaction.id.desc()).limit(limit)
    if status:
        query = query.where(Transaction.status == status)
    if since:
        query = query.where(Transaction.occurred_at >= since)
    return [transaction_as_dict(row) for row in session.scalars(query)]


def transaction_as_dict(row: Transaction) -> dict:
    return {"id": row.external_id, "amount": amount_text(row.amount_e4), "currency": row.currency,
            "status": row.status, "user_id": row.user_id, "timestamp": row.occurred_at.isoformat(),
            "updated_at": row.updated_at.isoformat(), "metadata": row.details}


def user_activity(session: Session, now: datetime, minutes: int, limit: int) -> dict:
    """The feed, active users, and counts by action and by hour within the last `minutes`."""
    since = now - timedelta(minutes=minutes)
    window = UserActivity.occurred_at >= since
    feed = session.scalars(select(UserActivity).where(window)
                           .order_by(UserActivity.occurred_at.desc(), UserActivity.id.desc()).limit(limit))
    active = session.scalar(select(func.count(func.distinct(UserActivity.user_id))).where(window))
    by_action = session.execute(select(UserActivity.action, func.count()).where(window)
                                .group_by(UserActivity.action).order_by(func.count().desc())).all()
    return {"since": since.isoformat(), "minutes": minutes, "active_users": active,
            "feed": [activity_as_dict(row) for row in feed],
            "by_action": [{"action": action, "count": count} for action, count in by_action],
            "by_hour": counts_by_hour(session, since, now)}


def counts_by_hour(session: Session, since: datetime, now: datetime) -> list[dict]:
    # Read only the timestamps and bucket in Python: the same on SQLite and PostgreSQL, and cheap for a window.
    counts = Counter(floor_time(moment, "1h") for moment in
                     session.scalars(select(UserActivity.occurred_at).where(UserActivity.occurred_at >= since)))
    return [{"hour": hour.isoformat(), "count": counts.get(hour, 0)} for hour in bucket_starts(since, now, "1h")]


def activity_as_dict(row: UserActivity) -> dict:
    return {"user_id": row.user_id, "action": row.action, "path": row.path, "session_id": row.session_id,
            "timestamp": row.occurred_at.isoformat(), "metadata": row.details}


def revenue_per_minute(session: Session, since: datetime, until: datetime) -> tuple[str | None, dict]:
    """Completed revenue and transaction counts per minute, in the currency with the most sales."""
    rows = session.execute(select(Transaction.occurred_at, Transaction.currency, Transaction.amount_e4)
                           .where(Transaction.status == "completed", Transaction.occurred_at >= since,
                                  Transaction.occurred_at < until)).all()
    by_currency = Counter(currency for _, currency, _ in rows)
    currency = by_currency.most_common(1)[0][0] if by_currency else None
    minutes: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for moment, row_currency, amount in rows:
        if row_currency == currency:
            totals = minutes[floor_time(moment, "1m")]
            totals[0] += amount
            totals[1] += 1
    return currency, minutes


def timeline(session: Session, since: datetime, until: datetime, performance_by_minute: dict) -> dict:
    """Per minute: revenue beside the panel's p95 and error rate, for the dashboard's timeline chart."""
    currency, revenue = revenue_per_minute(session, since, until)
    points = []
    for minute in bucket_starts(since, until, "1m"):
        amount, count = revenue.get(minute, (0, 0))
        requests = performance_by_minute.get(minute, {"requests": 0, "p95_ms": None, "error_rate": None})
        points.append({"minute": minute.isoformat(), "revenue": amount_text(amount), "transactions": count} | requests)
    return {"currency": currency, "since": since.isoformat(), "until": until.isoformat(), "points": points}
