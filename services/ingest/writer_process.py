"""The ingest writer in a process of its own: the server validates batches, a child stores and commits them.

In the server's process the writer shared one GIL and one event loop with the requests it served: each of
its statements' answers waited for the loop to come back from parsing the next batches (a 50-row COPY took
0.85 ms with one sender and 4.5 ms with four), and SQLite's statements stopped the loop outright. The child
has its database connection to itself and blocks on it; the server's part of a batch is one pickle sent down
a socket. Measured over HTTP with 4 senders, 3 pairs of runs alternating with INGEST_WRITER=inline: medians
40.4k against 28.8k items/s on SQLite, 38.4k against 28.0k on PostgreSQL.

Group commit happens in the child: it takes every batch waiting in the socket, stores them as one
(`writer.store_batches`), commits and answers each. It is started by the first batch and ends when the server
closes the socket: after IDLE_SECONDS without a batch, or with the server, whose end the kernel closes however
the server ended (SIGKILL too).
"""
import itertools
import os
import pickle
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from database import SERVER_DATABASE_TIMEOUT, create_database_engine
from services.ingest import writer
from services.ingest.bulk_sql import BulkSql
from services.ingest.group_commit import GroupCommit
from services.ingest.metric_rollups import RollupMemory

ROOT = Path(__file__).resolve().parent.parent.parent
HEADER = struct.Struct("!I")
MOST_BATCHES_A_GROUP = 32  # bounds one transaction, far above what arrives during one commit
IDLE_SECONDS = 60.0  # an idle server gives the child's memory (about 50 MB) back
# Longest wait for the child's answer: far above a group's worst (its statements each end within the database
# timeout), so only a child that hangs (stopped, say) reaches it, and the sender gets a 503 instead of no answer.
ANSWER_SECONDS = 60.0


def send_frame(sock: socket.socket, value: object) -> None:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(HEADER.pack(len(body)) + body)


class FrameReader:
    """Length-prefixed pickles from a stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, bytearray()

    def frames(self, timeout: float | None) -> list | None:
        """The complete frames that have arrived, waiting up to `timeout` for one (None: for ever); [] if none came,
        None once the peer has closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if select.select([self.sock], [], [], left)[0]:
                try:
                    chunk = self.sock.recv(1 << 20)
                except ConnectionResetError:  # the peer died with our frames unread
                    return None
                if not chunk:
                    return None
                self.buffer += chunk
            found = self._complete()
            if found or (deadline is not None and time.monotonic() >= deadline):
                return found

    def _complete(self) -> list:
        found, start = [], 0
        while len(self.buffer) - start >= HEADER.size:
            (length,) = HEADER.unpack_from(self.buffer, start)
            begin = start + HEADER.size
            if len(self.buffer) - begin < length:
                break  # the rest of this frame is still on its way
            found.append(pickle.loads(memoryview(self.buffer)[begin:begin + length]))
            start = begin + length
        del self.buffer[:start]
        return found


class Submission:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done, self.error = threading.Event(), None


class Child:
    """One writer process, its end of the socket, and the batches it has not answered yet."""

    def __init__(self, database_url: str) -> None:
        self.socket, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.ingest.writer_process", str(theirs.fileno())], cwd=ROOT,
                pass_fds=[theirs.fileno()], env={**os.environ, "DATABASE_URL": database_url})
        self.waiting: dict[int, Submission] = {}


class WriterProcess:
    """The server's side. `store` returns once the child has committed the batch, or raises why it was not: the
    database's own error, or an OperationalError when the child ended first (both answer 503)."""

    def __init__(self, database_url: str, idle_seconds: float = IDLE_SECONDS,
                 answer_seconds: float = ANSWER_SECONDS) -> None:
        self.database_url, self.idle_seconds, self.answer_seconds = database_url, idle_seconds, answer_seconds
        # Green under eventlet (threading is patched before this is built): one frame at a time on the socket,
        # and the current child changes only under it.
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self.child: Child | None = None
        self._last_batch = time.monotonic()
        self.started = self.ended_early = 0  # children; ended early: killed or failed, not let go when idle
        self.last_exit: int | None = None

    def health(self) -> dict:
        """Always ok: a child that ends is replaced by the next batch. `ended_early` counts those that ended with
        batches waiting or by a signal or an error, and `last_exit` is how the last one ended."""
        child = self.child
        return {"status": "ok", "mode": "process", "pid": child.process.pid if child else None,
                "waiting": len(child.waiting) if child else 0, "started": self.started,
                "ended_early": self.ended_early, "last_exit": self.last_exit}

    def store(self, session, rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
        """Store validated rows (event_schema.parse_batch); return what was stored, per kind. The caller commits
        its own `session` (the API key's last use): the batch goes in the child's transaction, not in it."""
        if not any(rows.values()):
            return {kind: [] for kind in rows}
        submission, number = Submission(), next(self._numbers)
        with self._lock:
            child = self.child or self._start()
            child.waiting[number], self._last_batch = submission, time.monotonic()
            try:
                send_frame(child.socket, (number, rows))
            except OSError as error:  # the child is gone: its reader fails what else it held and forgets it
                child.waiting.pop(number, None)
                raise OperationalError("send a batch to the ingest writer", None, error) from None
        if not submission.done.wait(self.answer_seconds):
            raise OperationalError("ingest writer", None, TimeoutError(
                f"the ingest writer did not answer within {self.answer_seconds:g} s"))
        if submission.error is not None:
            raise submission.error
        return writer.stored_rows(rows)

    def _start(self) -> Child:
        self.child = Child(self.database_url)
        self.started += 1
        threading.Thread(target=self._read_answers, args=(self.child,), daemon=True, name="ingest-writer").start()
        return self.child

    def _read_answers(self, child: Child) -> None:
        reader = FrameReader(child.socket)
        while (answers := reader.frames(timeout=min(self.idle_seconds, 5.0))) is not None:
            for numbers, error in answers:
                for number in numbers:
                    submission = child.waiting.pop(number)
                    submission.error = error
                    submission.done.set()
            if not answers:
                self._close_if_idle(child)
        with self._lock:
            if self.child is child:
                self.child = None  # the next batch starts another
            lost, child.waiting = child.waiting, {}
        for submission in lost.values():  # the child ended before it answered these (killed, or failed)
            submission.error = OperationalError("ingest writer", None, RuntimeError("the ingest writer process ended"))
            submission.done.set()
        child.socket.close()
        self.last_exit = child.process.wait()
        if lost or self.last_exit != 0:
            self.ended_early += 1

    def _close_if_idle(self, child: Child) -> None:
        with self._lock:
            if self.child is child and not child.waiting and time.monotonic() - self._last_batch >= self.idle_seconds:
                self.child = None  # the next batch starts another
                child.socket.shutdown(socket.SHUT_WR)  # the child reads the end and exits, and the reader sees it go


def build_ingest_writer(database_url: str, mode: str) -> "GroupCommit | WriterProcess":
    """INGEST_WRITER: "process" (a child stores the batches) or "inline" (the request's own process does, as it
    must for an in-memory SQLite database, which no other process can open)."""
    if mode == "inline" or database_url in ("sqlite://", "sqlite:///:memory:"):
        return GroupCommit()
    return WriterProcess(database_url)


def serve(sock: socket.socket, database_url: str) -> None:
    """The child: store what arrives, group by group, until the server closes the socket."""
    sessions = sessionmaker(bind=create_database_engine(database_url, pool_size=1, timeout=SERVER_DATABASE_TIMEOUT))
    memory, reader = RollupMemory(), FrameReader(sock)
    while (group := reader.frames(timeout=None)) is not None:
        while len(group) < MOST_BATCHES_A_GROUP and (more := reader.frames(timeout=0)):
            group += more
        for start in range(0, len(group), MOST_BATCHES_A_GROUP):
            part = group[start:start + MOST_BATCHES_A_GROUP]
            error = write_group(sessions, memory, [rows for _, rows in part])
            try:
                send_frame(sock, ([number for number, _ in part], error))
            except (BrokenPipeError, ConnectionResetError):
                return  # the server is gone, and no one waits for the answer


def write_group(sessions: sessionmaker, memory: RollupMemory, batches: list[dict]) -> Exception | None:
    """Store and commit the batches as one; return the error that failed them all, in a form that pickles."""
    with sessions() as session:
        try:
            bulk = BulkSql(session)
            writer.store_batches(bulk, batches, memory)
            bulk.commit()
            session.commit()
        except Exception as error:  # every batch of the group failed with it; each request answers for its own
            session.rollback()
            try:
                pickle.dumps(error)
            except Exception:  # noqa: BLE001 (any error must reach the server, as what it is or as its text)
                return OperationalError("ingest writer", None, RuntimeError(f"{type(error).__name__}: {error}"))
            return error
    return None


if __name__ == "__main__":
    inherited = socket.socket(fileno=int(sys.argv[1]))
    inherited.setblocking(True)  # the server's green socket library made the pair non-blocking
    serve(inherited, os.environ["DATABASE_URL"])
