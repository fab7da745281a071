"""Group commit: the batches that arrive while one is being written are written together, in one transaction.

Each batch used to take the ingest lock, write and commit on its own, so each paid a commit (on SQLite its WAL
write and checkpoint, on PostgreSQL a WAL flush) while the others queued behind the lock row. Now one request
at a time writes: it takes every batch waiting at that moment, its own included, stores and commits them as
one, and the others wake to find theirs stored. The lock row still orders writers across processes.
"""
import sys
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from services.ingest import writer
from services.ingest.bulk_sql import BulkSql
from services.ingest.metric_rollups import RollupMemory


class Submission:
    __slots__ = ("rows", "stored", "error", "done")

    def __init__(self, rows: dict[str, list[dict]]) -> None:
        self.rows, self.stored, self.error, self.done = rows, None, None, False


class GroupCommit:
    """One per app (per database): `store` returns once the caller's batch is committed, by it or by a peer."""

    def __init__(self) -> None:
        # Green locks under eventlet or gevent (the server patches threading first), real ones elsewhere.
        self._queue_lock = threading.Lock()
        self._writer_lock = threading.Lock()
        self._waiting: list[Submission] = []
        self._rollups = RollupMemory()

    def store(self, session: Session, rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
        """Store validated rows (event_schema.parse_batch) and commit them; return what was stored, per kind."""
        if not any(rows.values()):
            return {kind: [] for kind in rows}
        submission = Submission(rows)
        with self._queue_lock:
            self._waiting.append(submission)
        with self._writer_lock:
            if not submission.done:
                self._write_waiting(session)
        if submission.error is not None:
            raise submission.error
        return submission.stored

    def health(self) -> dict:
        return {"status": "ok", "mode": "inline", "waiting": len(self._waiting)}

    def _write_waiting(self, session: Session) -> None:
        with self._queue_lock:
            group, self._waiting = self._waiting, []
        try:
            session.flush()  # whatever the ORM holds (the API key's last use) goes into the same commit
            bulk = BulkSql(session)
            stored = writer.store_batches(bulk, [submission.rows for submission in group], self._rollups)
            commit(bulk)
            session.commit()  # the driver has committed by now: only SQLAlchemy's state changes
        except Exception as error:  # every batch of the group failed with it; each request answers for its own
            session.rollback()  # now, so the next writer does not find the database still locked by this one
            for submission in group:
                submission.error = error
        else:
            for submission, its_rows in zip(group, stored, strict=True):
                submission.stored = its_rows
        for submission in group:
            submission.done = True


def commit(bulk: BulkSql) -> None:
    """Commit; on SQLite in a real thread, so the event loop serves requests meanwhile.

    On SQLite the commit is a third of a batch's cost (its WAL write, and every checkpoint's copy and fdatasync)
    and, called from the event loop, it stopped the whole process; it is one C call that lets go of the GIL.
    PostgreSQL's driver already waits cooperatively (services/runtime/psycopg_internals).
    """
    if bulk.sqlite:
        off_the_event_loop(bulk.commit)
    else:
        bulk.commit()


def off_the_event_loop(call: Callable[[], object]) -> object:
    """Run a blocking call in a real OS thread when the process runs on green threads; else just call it."""
    if (patcher := sys.modules.get("eventlet.patcher")) and patcher.is_monkey_patched("thread"):
        from eventlet import tpool

        return tpool.execute(call)
    if (monkey := sys.modules.get("gevent.monkey")) and monkey.is_module_patched("threading"):
        import gevent

        return gevent.get_hub().threadpool.apply(call)
    return call()
