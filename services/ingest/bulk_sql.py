"""Driver-level bulk statements for the ingest hot path, on SQLite and PostgreSQL.

SQLAlchemy's per-row parameter processing costs more than the database's own work at thousands of
rows a second (measured: 25-30 µs a row), and even its per-statement bookkeeping was 6 % of ingest's
Python time, so ingest hands rows straight to the driver's own connection, inside the session's
transaction. Values are converted once here, as SQLAlchemy would store them.

Rows go in with executemany on SQLite, and through COPY, which psycopg formats in C, on PostgreSQL.
SQLite's statements stay on the event loop's thread: sqlite3 lets go of the GIL and takes it back for
every row, and in another thread each take waited for the loop's switch interval (a write of 100
batches took 196 s instead of 1.5 beside a busy thread). Only the commit, one long call, moves
(group_commit). Packing the rows into one JSON parameter for json_each lets go of the GIL once per
statement, but SQLite's JSON reading doubled its cost per row.
"""
import json
from collections.abc import Iterable, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

STAGING_TABLES = "ingest_staging_tables"  # key in the pooled connection's info: the staging tables it holds


class BulkSql:
    def __init__(self, session: Session) -> None:
        self.connection = session.connection()  # the session's transaction, checked out of the pool here
        self.sqlite = self.connection.dialect.name == "sqlite"
        self.driver = self.connection.connection.dbapi_connection
        self.placeholder = "?" if self.sqlite else "%s"
        self.created: set[str] = set()  # staging tables this transaction created

    @contextmanager
    def translated(self, statement: str):
        """Raise the driver's errors as SQLAlchemy's, as a statement through SQLAlchemy would: the rest of the app
        knows those (a locked or unreachable database is a 503 and counts against the breaker, not a 500)."""
        dialect = self.connection.dialect
        try:
            yield
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, self.driver, None)
            if lost:
                self.connection.invalidate(error)  # as SQLAlchemy does: the pool must not hand this connection out again
            raise DBAPIError.instance(statement, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
                                      connection_invalidated=lost, dialect=dialect) from error

    def commit(self) -> None:
        with self.translated("COMMIT"):
            self.driver.commit()
        self.connection.info.setdefault(STAGING_TABLES, set()).update(self.created)

    def time(self, moment: datetime) -> str:
        """A UTC datetime as text the column takes: naive ISO on SQLite (as SQLAlchemy writes it), ISO with its
        offset on PostgreSQL. There psycopg's own datetime dumper cost COPY 4.7 µs of CPU a transaction (three
        timestamps), text 0.65; formatting the one that differs per row costs 0.8."""
        if moment.tzinfo is not UTC:  # validated rows are in UTC already: no conversion, no naive copy
            moment = moment.astimezone(UTC)
        if self.sqlite:
            return moment.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"
        return moment.isoformat()

    def read_time(self, value) -> datetime:
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @staticmethod
    def json(value) -> str:
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))

    def query(self, sql: str, parameters: Sequence = ()) -> list[tuple]:
        with self.translated(sql), closing(self.driver.cursor()) as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchall()

    def update(self, sql: str, parameters: Sequence = ()) -> int:
        """Run a write; return how many rows it changed."""
        with self.translated(sql), closing(self.driver.cursor()) as cursor:
            cursor.execute(sql, parameters)
            return cursor.rowcount

    def executemany(self, sql: str, rows: Iterable[tuple]) -> None:
        rows = list(rows)
        if rows:
            with self.translated(sql), closing(self.driver.cursor()) as cursor:
                cursor.executemany(sql, rows)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
        """INSERT rows: with executemany on SQLite, through COPY on PostgreSQL (psycopg's executemany sends and
        dumps a statement per row, 8 us of CPU a row against COPY's 4, measured on 2,000 transactions)."""
        rows = list(rows)
        names = ", ".join(columns)
        if not rows:
            return
        if self.sqlite:
            self.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
        else:
            self.copy(table, names, rows)

    def stage(self, table: str, names: str, rows: list[tuple]) -> str:
        """Copy rows into a staging table typed as `table` (PostgreSQL), which takes no lock; return its name for
        the statement that reads them (`WITH staged AS (DELETE FROM <it> RETURNING ...)`)."""
        incoming = self.staging_table("incoming", table, names)
        self.copy(incoming, names, rows)
        return incoming

    def update_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
        """UPDATE rows by id: each row is its new column values, then its id."""
        rows = list(rows)
        if not rows:
            return
        if self.sqlite:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            self.executemany(f"UPDATE {table} SET {assignments} WHERE id = ?", rows)
            return
        # psycopg's executemany costs a statement a row (2 ms for a batch's hundred rollups): copy, then one UPDATE
        names = ", ".join((*columns, "id"))
        updated = self.staging_table("updated", table, names)
        self.copy(updated, names, rows)
        assignments = ", ".join(f"{column} = staged.{column}" for column in columns)
        self.update(f"WITH staged AS (DELETE FROM {updated} RETURNING {names}) "
                    f"UPDATE {table} SET {assignments} FROM staged WHERE {table}.id = staged.id")

    def staging_table(self, purpose: str, table: str, names: str) -> str:
        """A temporary table with `names`, typed as in `table` (PostgreSQL). Its reader empties it (DELETE ...
        RETURNING), so a second write in the same transaction does not see the first's rows again.

        It lives as long as the connection once a transaction that created it commits; the connection remembers
        those, so later writes skip the round trip of creating it. Tables of a transaction that rolled back are
        not remembered: the rollback dropped them.
        """
        staging = f"{purpose}_{table}"
        if staging not in self.connection.info.get(STAGING_TABLES, ()):
            self.update(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS "
                        f"AS SELECT {names} FROM {table} WITH NO DATA")
            self.created.add(staging)
        return staging

    def copy(self, table: str, names: str, rows: list[tuple]) -> None:
        statement = f"COPY {table} ({names}) FROM STDIN"
        with self.translated(statement), self.driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def select_in(self, sql_prefix: str, column: str, values: list, chunk: int = 900) -> list[tuple]:
        """Rows of `sql_prefix WHERE column IN values`; an array parameter on PostgreSQL so its index is used."""
        found = []
        for start in range(0, len(values), chunk):
            part = values[start:start + chunk]
            if self.sqlite:
                found += self.query(f"{sql_prefix} WHERE {column} IN ({', '.join('?' * len(part))})", tuple(part))
            else:
                found += self.query(f"{sql_prefix} WHERE {column} = ANY(%s)", (part,))
        return found

