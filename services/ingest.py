"""Storing validated ingest batches: idempotent transaction upserts, bulk inserts and rollups, one batch at a time."""
from collections import defaultdict

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from database import IngestLock, MetricPoint, MetricRollup, RevenueRollup, Transaction, UserActivity, utcnow
from services.event_schema import amount_text
from services.histogram import LogHistogram
from services.time_buckets import METRIC_BUCKETS, floor_time, tags_key

UPSERT_FIELDS = ("amount_e4", "currency", "status", "user_id", "occurred_at", "details", "updated_at")


def dialect_insert(session: Session, model):
    """INSERT with ON CONFLICT support for the session's database (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(model)


def lock_ingest(session: Session) -> None:
    """Take the ingest lock row first, so rollups are read and written by one batch at a time.

    On SQLite the write also takes the database's writer lock before any read; on PostgreSQL it is a
    row lock that concurrent batches wait on, after which their reads see the batch committed before.
    """
    locked = session.execute(update(IngestLock).where(IngestLock.id == 1)
                             .values(batches=IngestLock.batches + 1)).rowcount
    if not locked:
        session.execute(dialect_insert(session, IngestLock).values(id=1, batches=1).on_conflict_do_nothing())
        session.execute(update(IngestLock).where(IngestLock.id == 1).values(batches=IngestLock.batches + 1))


def store_batch(session: Session, rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Write validated rows (see event_schema.parse_batch); return what was stored, per kind. Caller commits."""
    if not any(rows.values()):
        return {key: [] for key in rows}
    lock_ingest(session)
    return {"transactions": upsert_transactions(session, rows.get("transactions", [])),
            "activities": insert_activities(session, rows.get("activities", [])),
            "metrics": insert_metrics(session, rows.get("metrics", []))}


def upsert_transactions(session: Session, rows: list[dict]) -> list[dict]:
    """Insert new ids, update repeated ones in place, and move their amounts between revenue rollups."""
    if not rows:
        return []
    latest = {row["external_id"]: row for row in rows}  # a repeat inside one batch: the last one wins
    rows = list(latest.values())
    previous = existing_transactions(session, list(latest))
    now = utcnow()
    for row in rows:
        row["updated_at"] = now
    statement = dialect_insert(session, Transaction)
    session.execute(statement.on_conflict_do_update(
        index_elements=[Transaction.external_id],
        set_={field: getattr(statement.excluded, field) for field in UPSERT_FIELDS}), rows)
    apply_revenue_deltas(session, revenue_deltas(rows, previous))
    return rows


def existing_transactions(session: Session, external_ids: list[str]) -> dict[str, tuple]:
    found = {}
    for start in range(0, len(external_ids), 1000):
        chunk = external_ids[start:start + 1000]
        query = select(Transaction.external_id, Transaction.occurred_at, Transaction.currency,
                       Transaction.status, Transaction.amount_e4).where(Transaction.external_id.in_(chunk))
        found.update({row[0]: tuple(row[1:]) for row in session.execute(query)})
    return found


def revenue_deltas(rows: list[dict], previous: dict[str, tuple]) -> dict[tuple, list[int]]:
    """Per (hour, currency, status): [count change, amount change] caused by these rows."""
    deltas: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        old = previous.get(row["external_id"])
        if old:
            occurred_at, currency, status, amount = old
            delta = deltas[(floor_time(occurred_at, "1h"), currency, status)]
            delta[0] -= 1
            delta[1] -= amount
        delta = deltas[(floor_time(row["occurred_at"], "1h"), row["currency"], row["status"])]
        delta[0] += 1
        delta[1] += row["amount_e4"]
    return {group: change for group, change in deltas.items() if change != [0, 0]}


def apply_revenue_deltas(session: Session, deltas: dict[tuple, list[int]]) -> None:
    if not deltas:
        return
    statement = dialect_insert(session, RevenueRollup)
    session.execute(statement.on_conflict_do_update(
        index_elements=[RevenueRollup.hour, RevenueRollup.currency, RevenueRollup.status],
        set_={"count": RevenueRollup.count + statement.excluded.count,
              "amount_e4": RevenueRollup.amount_e4 + statement.excluded.amount_e4}),
        [{"hour": hour, "currency": currency, "status": status, "count": count, "amount_e4": amount}
         for (hour, currency, status), (count, amount) in deltas.items()])


def insert_activities(session: Session, rows: list[dict]) -> list[dict]:
    if rows:
        session.execute(insert(UserActivity), rows)
    return rows


def insert_metrics(session: Session, rows: list[dict]) -> list[dict]:
    """Keep the raw points and fold them into the 1m/5m/1h/1d rollups that queries read."""
    if not rows:
        return []
    for row in rows:
        row["tags_key"] = tags_key(row["tags"])
    session.execute(insert(MetricPoint), [{key: row[key] for key in ("name", "value", "occurred_at", "tags")}
                                          for row in rows])
    merge_metric_rollups(session, rows)
    return rows


def merge_metric_rollups(session: Session, rows: list[dict]) -> None:
    fresh = fold_points(rows)
    existing = {(r.name, r.bucket, r.bucket_start, r.tags_key): r for r in load_rollups(session, list(fresh))}
    new_rows = []
    for series, (tags, histogram, count, total, low, high) in fresh.items():
        stored = existing.get(series)
        if stored is None:
            name, bucket, start, key = series
            new_rows.append({"name": name, "bucket": bucket, "bucket_start": start, "tags_key": key, "tags": tags,
                             "count": count, "sum": total, "min": low, "max": high, "histogram": histogram.to_dict()})
            continue
        merged = LogHistogram.from_dict(stored.histogram)
        merged.merge(histogram)
        stored.count, stored.sum = stored.count + count, stored.sum + total
        stored.min, stored.max = min(stored.min, low), max(stored.max, high)
        stored.histogram = merged.to_dict()
    if new_rows:
        session.execute(insert(MetricRollup), new_rows)
    session.flush()


def fold_points(rows: list[dict]) -> dict[tuple, list]:
    """Aggregate points per (name, bucket, bucket start, tags key) in memory before touching the database."""
    fresh: dict[tuple, list] = {}
    for row in rows:
        for bucket in METRIC_BUCKETS:
            series = (row["name"], bucket, floor_time(row["occurred_at"], bucket), row["tags_key"])
            entry = fresh.get(series)
            if entry is None:
                entry = fresh[series] = [row["tags"], LogHistogram(), 0, 0.0, row["value"], row["value"]]
            entry[1].record(row["value"])
            entry[2] += 1
            entry[3] += row["value"]
            entry[4], entry[5] = min(entry[4], row["value"]), max(entry[5], row["value"])
    return fresh


def load_rollups(session: Session, series: list[tuple]) -> list[MetricRollup]:
    found = []
    columns = tuple_(MetricRollup.name, MetricRollup.bucket, MetricRollup.bucket_start, MetricRollup.tags_key)
    for start in range(0, len(series), 500):
        found += session.scalars(select(MetricRollup).where(columns.in_(series[start:start + 500])))
    return found


def as_event(kind: str, row: dict) -> dict:
    """The public, JSON-safe shape of a stored row, as the dashboard receives it."""
    if kind == "transactions":
        return {"id": row["external_id"], "amount": amount_text(row["amount_e4"]), "currency": row["currency"],
                "status": row["status"], "user_id": row["user_id"], "timestamp": row["occurred_at"].isoformat()}
    if kind == "activities":
        return {"user_id": row["user_id"], "action": row["action"], "path": row["path"],
                "timestamp": row["occurred_at"].isoformat()}
    return {"name": row["name"], "value": row["value"], "tags": row["tags"], "timestamp": row["occurred_at"].isoformat()}

