"""Storing validated ingest batches: idempotent transaction upserts, bulk inserts and rollups, one write at a time."""
import json
from collections import defaultdict

from sqlalchemy.orm import Session

from database import utcnow
from services.analytics.time_buckets import METRIC_BUCKETS, floor_time, tags_key
from services.ingest.bulk_sql import BulkSql
from services.ingest.event_schema import amount_text
from services.monitoring.histogram import LogHistogram

KINDS = ("transactions", "activities", "metrics")

def lock_ingest(bulk: BulkSql) -> None:
    """Take the ingest lock row first, so rollups are read and written by one batch at a time.

    On SQLite the write also takes the database's writer lock before any read; on PostgreSQL it is a
    row lock that concurrent batches wait on, after which their reads see the batch committed before.
    """
    take = "UPDATE ingest_lock SET batches = batches + 1 WHERE id = 1"
    if not bulk.connection.exec_driver_sql(take).rowcount:
        bulk.connection.exec_driver_sql("INSERT INTO ingest_lock (id, batches) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
        bulk.connection.exec_driver_sql(take)


def store_batches(session: Session, batches: list[dict[str, list[dict]]]) -> list[dict[str, list[dict]]]:
    """Write several validated batches as one (in their order, so a repeated id keeps its last); return what each
    stored. Caller commits."""
    store_batch(session, {kind: [row for rows in batches for row in rows.get(kind, ())] for kind in KINDS})
    return [{"transactions": last_of_each_id(rows.get("transactions", [])), "activities": rows.get("activities", []),
             "metrics": rows.get("metrics", [])} for rows in batches]


def store_batch(session: Session, rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Write validated rows (see event_schema.parse_batch); return what was stored, per kind. Caller commits."""
    if not any(rows.values()):
        return {key: [] for key in rows}
    bulk = BulkSql(session)
    lock_ingest(bulk)
    return {"transactions": upsert_transactions(bulk, rows.get("transactions", [])),
            "activities": insert_activities(bulk, rows.get("activities", [])),
            "metrics": insert_metrics(bulk, rows.get("metrics", []))}


TRANSACTION_COLUMNS = ("external_id", "amount_e4", "currency", "status", "user_id", "occurred_at", "created_at",
                       "updated_at", "details")
UPDATED_ON_REPEAT = ("amount_e4", "currency", "status", "user_id", "occurred_at", "updated_at", "details")


def upsert_transactions(bulk: BulkSql, rows: list[dict]) -> list[dict]:
    """Insert new ids, update repeated ones in place, and move their amounts between revenue rollups."""
    if not rows:
        return []
    rows = last_of_each_id(rows)
    previous = existing_transactions(bulk, [row["external_id"] for row in rows])
    now = bulk.time(utcnow())
    conflict = ("ON CONFLICT (external_id) DO UPDATE SET "
                + ", ".join(f"{column} = excluded.{column}" for column in UPDATED_ON_REPEAT))
    bulk.insert_rows("transactions", TRANSACTION_COLUMNS, (
        (row["external_id"], row["amount_e4"], row["currency"], row["status"], row["user_id"],
         bulk.time(row["occurred_at"]), now, now, bulk.json(row["details"])) for row in rows), conflict)
    apply_revenue_deltas(bulk, revenue_deltas(rows, previous))
    return rows


def last_of_each_id(rows: list[dict]) -> list[dict]:
    """A repeat inside one write: the last wins."""
    return list({row["external_id"]: row for row in rows}.values())


def existing_transactions(bulk: BulkSql, external_ids: list[str]) -> dict[str, tuple]:
    """What the batch's repeated ids held before: (occurred_at, currency, status, amount_e4) per id."""
    found = bulk.select_in("SELECT external_id, occurred_at, currency, status, amount_e4 FROM transactions",
                           "external_id", external_ids)
    return {external_id: (bulk.read_time(occurred_at), currency, status, amount)
            for external_id, occurred_at, currency, status, amount in found}


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


def apply_revenue_deltas(bulk: BulkSql, deltas: dict[tuple, list[int]]) -> None:
    conflict = ("ON CONFLICT (hour, currency, status) DO UPDATE SET count = revenue_rollups.count + excluded.count, "
                "amount_e4 = revenue_rollups.amount_e4 + excluded.amount_e4")
    bulk.executemany(bulk.insert_sql("revenue_rollups", ("hour", "currency", "status", "count", "amount_e4"), conflict),
                     ((bulk.time(hour), currency, status, count, amount)
                      for (hour, currency, status), (count, amount) in deltas.items()))


def insert_activities(bulk: BulkSql, rows: list[dict]) -> list[dict]:
    bulk.insert_rows("user_activities", ("user_id", "action", "path", "session_id", "occurred_at", "details"),
                     ((row["user_id"], row["action"], row["path"], row["session_id"], bulk.time(row["occurred_at"]),
                       bulk.json(row["details"])) for row in rows))
    return rows


def insert_metrics(bulk: BulkSql, rows: list[dict]) -> list[dict]:
    """Keep the raw points and fold them into the 1m/5m/1h/1d rollups that queries read."""
    if not rows:
        return []
    for row in rows:
        row["tags_key"] = tags_key(row["tags"])
    bulk.insert_rows("metric_points", ("name", "value", "occurred_at", "tags"),
                     ((row["name"], row["value"], bulk.time(row["occurred_at"]), bulk.json(row["tags"]))
                      for row in rows))
    merge_metric_rollups(bulk, fold_points(rows))
    return rows


ROLLUP_COLUMNS = ("name", "bucket", "bucket_start", "tags_key", "tags", "count", "sum", "min", "max", "histogram")


def merge_metric_rollups(bulk: BulkSql, fresh: dict[tuple, list]) -> None:
    """Add the batch's aggregates to the stored rollups: one read, then one update and one insert statement."""
    stored = {(name, bucket, bulk.read_time(start), key): (row_id, count, total, low, high, histogram)
              for row_id, name, bucket, start, key, count, total, low, high, histogram in load_rollups(bulk, fresh)}
    updates, inserts = [], []
    for series, (tags, histogram, count, total, low, high) in fresh.items():
        old = stored.get(series)
        if old is None:
            name, bucket, start, key = series
            inserts.append((name, bucket, bulk.time(start), key, bulk.json(tags), count, total, low, high,
                            bulk.json(histogram.to_dict())))
            continue
        row_id, old_count, old_total, old_low, old_high, old_histogram = old
        merged = histogram.merge_counts({int(index): n for index, n in json_object(old_histogram).items()})
        updates.append((old_count + count, old_total + total, min(old_low, low), max(old_high, high),
                        bulk.json(merged.to_dict()), row_id))
    bulk.executemany(bulk.insert_sql("metric_rollups", ROLLUP_COLUMNS), inserts)
    set_clause = ", ".join(f"{column} = {bulk.placeholder}" for column in ("count", "sum", "min", "max", "histogram"))
    bulk.executemany(f"UPDATE metric_rollups SET {set_clause} WHERE id = {bulk.placeholder}", updates)


def json_object(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


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


def load_rollups(bulk: BulkSql, fresh: dict[tuple, list]) -> list[tuple]:
    """The stored rollups that may match the batch's series: by name, bucket and bucket start (the unique index).

    One SELECT per bucket, each an index search on all three columns; with the buckets OR-ed in one WHERE, SQLite
    searched by name alone and read every rollup the names ever had, a cost that grew with the table.
    """
    names = sorted({name for name, _, _, _ in fresh})
    starts: dict[str, set] = defaultdict(set)
    for _, bucket, start, _ in fresh:
        starts[bucket].add(bulk.time(start))
    ph = bulk.placeholder
    selects = [f"SELECT id, name, bucket, bucket_start, tags_key, count, sum, min, max, histogram FROM metric_rollups "
               f"WHERE name IN ({', '.join([ph] * len(names))}) AND bucket = {ph} "
               f"AND bucket_start IN ({', '.join([ph] * len(values))})" for values in starts.values()]
    parameters = [value for bucket, values in starts.items() for value in (*names, bucket, *values)]
    return bulk.connection.exec_driver_sql(" UNION ALL ".join(selects), tuple(parameters)).all()


def as_event(kind: str, row: dict) -> dict:
    """The public, JSON-safe shape of a stored row, as the dashboard receives it."""
    if kind == "transactions":
        return {"id": row["external_id"], "amount": amount_text(row["amount_e4"]), "currency": row["currency"],
                "status": row["status"], "user_id": row["user_id"], "timestamp": row["occurred_at"].isoformat()}
    if kind == "activities":
        return {"user_id": row["user_id"], "action": row["action"], "path": row["path"],
                "timestamp": row["occurred_at"].isoformat()}
    return {"name": row["name"], "value": row["value"], "tags": row["tags"], "timestamp": row["occurred_at"].isoformat()}

