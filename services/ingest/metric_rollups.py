"""Folding a batch's metric points into the stored 1m/5m/1h/1d rollups, exactly, under the ingest lock.

Each rollup row holds a histogram whose JSON grows with the bucket (a day's holds hundreds of counts), and
reading those back and decoding them was most of a metric's cost. The rollups this process wrote last are
remembered with their histograms: a batch reads only each row's id, count and sum, and reads the rest only
for the rows that changed since (another process wrote them) or that it does not remember.
"""
import json
from collections import defaultdict

from services.analytics.time_buckets import METRIC_BUCKETS, floor_time
from services.ingest.bulk_sql import BulkSql
from services.monitoring.histogram import LogHistogram

COLUMNS = ("name", "bucket", "bucket_start", "tags_key", "tags", "count", "sum", "min", "max", "histogram")
MERGED = ("count", "sum", "min", "max", "histogram")
# Series whose rollups are remembered; past it the memory starts afresh (a day's series of a busy sender fit).
REMEMBERED_SERIES = 50_000


class Remembered:
    """What a rollup row held after this process's last write to it."""
    __slots__ = ("row_id", "count", "total", "low", "high", "counts")

    def __init__(self, row_id: int, count: int, total: float, low: float, high: float, counts: dict[int, int]) -> None:
        self.row_id, self.count, self.total, self.low, self.high, self.counts = row_id, count, total, low, high, counts


class RollupMemory:
    """The rollups one writer (group_commit's) wrote, by series (name, bucket, bucket start, tags key)."""

    def __init__(self) -> None:
        self.rows: dict[tuple, Remembered] = {}

    def keep(self, series: tuple, row: Remembered) -> None:
        if len(self.rows) >= REMEMBERED_SERIES and series not in self.rows:
            self.rows.clear()
        self.rows[series] = row


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


def merge(bulk: BulkSql, fresh: dict[tuple, list], memory: RollupMemory | None = None) -> None:
    """Add the batch's aggregates to the stored rollups: at most two reads, then one insert and one update."""
    memory = memory or RollupMemory()
    stored = stored_rollups(bulk, fresh, memory)
    updates, inserts = [], []
    for series, (tags, histogram, count, total, low, high) in fresh.items():
        old = stored.get(series)
        if old is None:
            name, bucket, start, key = series
            inserts.append((name, bucket, bulk.time(start), key, bulk.json(tags), count, total, low, high,
                            bulk.json(histogram.to_dict())))
            continue
        merged = histogram.merge_counts(old.counts)
        new = Remembered(old.row_id, old.count + count, old.total + total, min(old.low, low), max(old.high, high),
                         merged.counts)
        updates.append((new.count, new.total, new.low, new.high, bulk.json(merged.to_dict()), new.row_id))
        memory.keep(series, new)
    bulk.insert_rows("metric_rollups", COLUMNS, inserts)
    bulk.update_rows("metric_rollups", MERGED, updates)


def stored_rollups(bulk: BulkSql, fresh: dict[tuple, list], memory: RollupMemory) -> dict[tuple, Remembered]:
    """The stored rows of the batch's series. A remembered row whose count and sum still match is this process's
    last write (any other write adds to its count); the others are read whole."""
    found, unknown = {}, {}
    for row_id, name, bucket, start, key, count, total in rollup_ids(bulk, fresh):
        series = (name, bucket, bulk.read_time(start), key)
        if series not in fresh:
            continue
        kept = memory.rows.get(series)
        if kept is not None and (kept.row_id, kept.count, kept.total) == (row_id, count, total):
            found[series] = kept
        else:
            unknown[row_id] = series
    if unknown:
        for row_id, count, total, low, high, histogram in bulk.select_in(
                "SELECT id, count, sum, min, max, histogram FROM metric_rollups", "id", list(unknown)):
            counts = {int(index): n for index, n in json_object(histogram).items()}
            found[unknown[row_id]] = Remembered(row_id, count, total, low, high, counts)
    return found


def rollup_ids(bulk: BulkSql, fresh: dict[tuple, list]) -> list[tuple]:
    """Id, series, count and sum of the stored rollups that may match the batch's series: by name, bucket and
    bucket start (the unique index).

    One SELECT per bucket, each an index search on all three columns; with the buckets OR-ed in one WHERE, SQLite
    searched by name alone and read every rollup the names ever had, a cost that grew with the table.
    """
    names = sorted({name for name, _, _, _ in fresh})
    starts: dict[str, set] = defaultdict(set)
    for _, bucket, start, _ in fresh:
        starts[bucket].add(bulk.time(start))
    ph = bulk.placeholder
    selects = [f"SELECT id, name, bucket, bucket_start, tags_key, count, sum FROM metric_rollups "
               f"WHERE name IN ({', '.join([ph] * len(names))}) AND bucket = {ph} "
               f"AND bucket_start IN ({', '.join([ph] * len(values))})" for values in starts.values()]
    parameters = [value for bucket, values in starts.items() for value in (*names, bucket, *values)]
    return bulk.query(" UNION ALL ".join(selects), tuple(parameters))


def json_object(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value
