"""Storing validated ingest batches: idempotent transaction upserts, bulk inserts and rollups, one write at a time."""
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.orm import Session

from database import utcnow
from services.analytics.time_buckets import floor_time, tags_key
from services.ingest import metric_rollups
from services.ingest.bulk_sql import BulkSql
from services.ingest.event_schema import amount_text

KINDS = ("transactions", "activities", "metrics")

def lock_ingest(bulk: BulkSql) -> None:
    """Take the ingest lock row first, so rollups are read and written by one batch at a time.

    On SQLite the write also takes the database's writer lock before any read; on PostgreSQL it is a
    row lock that concurrent batches wait on, after which their reads see the batch committed before.
    """
    take = "UPDATE ingest_lock SET batches = batches + 1 WHERE id = 1"
    if not bulk.update(take):
        bulk.update("INSERT INTO ingest_lock (id, batches) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
        bulk.update(take)


def store_batches(bulk: BulkSql, batches: list[dict[str, list[dict]]],
                  memory: metric_rollups.RollupMemory | None = None) -> list[dict[str, list[dict]]]:
    """Write several validated batches as one (in their order, so a repeated id keeps its last); return what each
    stored. Caller commits."""
    store_rows(bulk, {kind: [row for rows in batches for row in rows.get(kind, ())] for kind in KINDS}, memory)
    return [stored_rows(rows) for rows in batches]


def stored_rows(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """What storing a batch keeps of it, per kind: a repeated transaction id's last row."""
    return {"transactions": last_of_each_id(rows.get("transactions", [])), "activities": rows.get("activities", []),
            "metrics": rows.get("metrics", [])}


def store_batch(session: Session, rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Write validated rows (see event_schema.parse_batch); return what was stored, per kind. Caller commits."""
    return store_rows(BulkSql(session), rows)


def store_rows(bulk: BulkSql, rows: dict[str, list[dict]],
               memory: metric_rollups.RollupMemory | None = None) -> dict[str, list[dict]]:
    """Appends first, then under the ingest lock what reads and rewrites stored rows: transactions (a repeated id
    moves revenue) and rollups. The lock is held to the commit; on PostgreSQL the other processes of a cluster send
    their appends meanwhile instead of queueing for the lock with them."""
    if not any(rows.values()):
        return {key: [] for key in rows}
    activities = insert_activities(bulk, rows.get("activities", []))
    metrics = insert_metric_points(bulk, rows.get("metrics", []))
    transactions, upsert = stage_transactions(bulk, rows.get("transactions", []))
    lock_ingest(bulk)
    if metrics:
        metric_rollups.merge(bulk, metric_rollups.fold_points(metrics), memory)
    if transactions:
        upsert()
    return {"transactions": transactions, "activities": activities, "metrics": metrics}


TRANSACTION_COLUMNS = ("external_id", "amount_e4", "currency", "status", "user_id", "occurred_at", "created_at",
                       "updated_at", "details")
UPDATED_ON_REPEAT = ("amount_e4", "currency", "status", "user_id", "occurred_at", "updated_at", "details")


def stage_transactions(bulk: BulkSql, rows: list[dict]) -> tuple[list[dict], Callable[[], None]]:
    """The rows to store (a repeated id's last) and their upsert, which moves the revenue rollups with them: new ids
    are inserted, repeated ones updated in place. Run the upsert under the ingest lock.

    On SQLite the repeated ids' previous values are read and the rollups' changes worked out here. On PostgreSQL the
    rows are sent now, to a staging table, and one statement reads the previous values, upserts and moves the
    rollups: each statement the ingest lock waits for is a round trip in which the event loop may be parsing
    another batch before it picks the answer up.
    """
    rows = last_of_each_id(rows)
    now = bulk.time(utcnow())
    values = [(row["external_id"], row["amount_e4"], row["currency"], row["status"], row["user_id"],
               bulk.time(row["occurred_at"]), now, now, bulk.json(row["details"])) for row in rows]
    names = ", ".join(TRANSACTION_COLUMNS)
    if bulk.sqlite:
        upsert = (f"INSERT INTO transactions ({names}) VALUES ({', '.join('?' * len(TRANSACTION_COLUMNS))}) "
                  f"{ON_REPEAT}")

        def upsert_moving_revenue() -> None:
            previous = existing_transactions(bulk, [row["external_id"] for row in rows])
            bulk.executemany(upsert, values)
            apply_revenue_deltas(bulk, revenue_deltas(rows, previous))
        return rows, upsert_moving_revenue
    staged = bulk.stage("transactions", names, values)
    ids = [row["external_id"] for row in rows]  # a parameter, not the staged rows: the planner then uses the index
    return rows, lambda: bulk.update(UPSERT_MOVING_REVENUE.format(staged=staged, names=names), (ids,))


ON_REPEAT = "ON CONFLICT (external_id) DO UPDATE SET " + ", ".join(f"{column} = excluded.{column}"
                                                                   for column in UPDATED_ON_REPEAT)
REVENUE_ON_CONFLICT = ("ON CONFLICT (hour, currency, status) DO UPDATE SET count = revenue_rollups.count + "
                       "excluded.count, amount_e4 = revenue_rollups.amount_e4 + excluded.amount_e4")
# PostgreSQL: every part sees the table as it was before the statement, so `previous` holds what the repeated ids
# held, and the rollups get each hour's new rows less its old ones. Rows go in key order, the order any two
# writers lock rollup rows in.
UPSERT_MOVING_REVENUE = f"""WITH staged AS (DELETE FROM {{staged}} RETURNING {{names}}),
previous AS (SELECT occurred_at, currency, status, amount_e4 FROM transactions WHERE external_id = ANY(%s)),
upserted AS (INSERT INTO transactions ({{names}}) SELECT {{names}} FROM staged {ON_REPEAT}),
changes AS (SELECT date_trunc('hour', occurred_at, 'UTC') AS hour, currency, status, 1 AS count, amount_e4
            FROM staged
            UNION ALL SELECT date_trunc('hour', occurred_at, 'UTC'), currency, status, -1, -amount_e4 FROM previous)
INSERT INTO revenue_rollups (hour, currency, status, count, amount_e4)
SELECT hour, currency, status, sum(count), sum(amount_e4) FROM changes GROUP BY hour, currency, status
HAVING sum(count) <> 0 OR sum(amount_e4) <> 0 ORDER BY hour, currency, status
{REVENUE_ON_CONFLICT}"""


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
    bulk.executemany(f"INSERT INTO revenue_rollups (hour, currency, status, count, amount_e4) VALUES (?, ?, ?, ?, ?) "
                     f"{REVENUE_ON_CONFLICT}", ((bulk.time(hour), currency, status, count, amount)
                                                for (hour, currency, status), (count, amount) in deltas.items()))


def insert_activities(bulk: BulkSql, rows: list[dict]) -> list[dict]:
    bulk.insert_rows("user_activities", ("user_id", "action", "path", "session_id", "occurred_at", "details"),
                     ((row["user_id"], row["action"], row["path"], row["session_id"], bulk.time(row["occurred_at"]),
                       bulk.json(row["details"])) for row in rows))
    return rows


def insert_metric_points(bulk: BulkSql, rows: list[dict]) -> list[dict]:
    """Keep the raw points; store_rows then folds them into the 1m/5m/1h/1d rollups that queries read."""
    for row in rows:
        row["tags_key"] = tags_key(row["tags"])
    bulk.insert_rows("metric_points", ("name", "value", "occurred_at", "tags"),
                     ((row["name"], row["value"], bulk.time(row["occurred_at"]), bulk.json(row["tags"]))
                      for row in rows))
    return rows


def as_event(kind: str, row: dict) -> dict:
    """The public, JSON-safe shape of a stored row, as the dashboard receives it."""
    if kind == "transactions":
        return {"id": row["external_id"], "amount": amount_text(row["amount_e4"]), "currency": row["currency"],
                "status": row["status"], "user_id": row["user_id"], "timestamp": row["occurred_at"].isoformat()}
    if kind == "activities":
        return {"user_id": row["user_id"], "action": row["action"], "path": row["path"],
                "timestamp": row["occurred_at"].isoformat()}
    return {"name": row["name"], "value": row["value"], "tags": row["tags"], "timestamp": row["occurred_at"].isoformat()}

