"""PostgreSQL store (pg8000, pure Python, BSD-3-Clause) for several replicas sharing one feedback history."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from explainops_server.errors import StoreError
from explainops_server.feedback.postgres_dsn import connect
from explainops_server.feedback.schema import POSTGRES
from explainops_server.feedback.sql import SqlFeedbackStore

# SQLSTATE classes that mean "the server cannot do it now", not "the request is wrong" (the classes
# PostgreSQL's own drivers report as operational errors): connection, transaction rollback
# (serialisation, deadlock), resources, limits, object state (lock not available), operator
# intervention (shutdown), system error. They answer 503 with Retry-After.
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "54", "55", "57", "58"})
ROWS_PER_INSERT = 200  # multi-row VALUES: one round trip per 200 rows instead of one per row
# Advisory lock keys, the same in every replica.
SCHEMA_LOCK, RETENTION_LOCK, FEEDBACK_LOCK = 74210501, 74210502, 74210503


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a server error (pg8000 passes the error fields as a dict, `C` the code)."""
    fields = exc.args[0] if exc.args else None
    return fields.get("C") if isinstance(fields, dict) else None


def describe(exc: BaseException) -> str:
    fields = exc.args[0] if exc.args else None
    if isinstance(fields, dict):
        return f"{fields.get('M', 'error')} (SQLSTATE {fields.get('C', '?')})"
    return str(exc)


class PostgresFeedbackStore(SqlFeedbackStore):
    dsn_scheme = "postgresql"
    dialect = POSTGRES

    def __init__(self, dsn: str) -> None:
        super().__init__()
        import pg8000.dbapi

        self._dsn = dsn
        self._pg = pg8000.dbapi
        # pg8000 wraps most socket errors in InterfaceError, but not all (a reset on the first read of
        # a reply escapes as OSError): both mean the connection is gone.
        self._lost = (pg8000.dbapi.InterfaceError, OSError)
        self._conn: Any = None
        try:
            self.migrate()
        except StoreError as exc:
            raise StoreError(f"cannot open PostgreSQL store: {exc.detail}") from None
        except (self._pg.Error, OSError) as exc:  # e.g. no right to create the tables
            raise StoreError(f"cannot open PostgreSQL store: {describe(exc)}") from None

    def _connection(self) -> Any:
        """The connection, opened again after a network error closed it (a 503 until it succeeds)."""
        if self._conn is None:
            try:
                self._conn = connect(self._dsn)
            except (self._pg.Error, OSError) as exc:
                raise StoreError(f"PostgreSQL store unavailable: {describe(exc)}") from None
        return self._conn

    def _lock_schema(self, cursor: Any) -> None:
        # Replicas may start together: one migrates, the others then find nothing pending.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))

    def _lock_feedback(self, cursor: Any) -> None:
        # Read committed alone would let two replicas both find a feedback id new, both answer
        # "created", and keep only one of the two contents. Held until commit, like SQLite's write lock.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (FEEDBACK_LOCK,))

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One transaction: BEGIN at the first statement (pg8000, autocommit off), COMMIT on success,
        ROLLBACK on any error, so a failed request leaves nothing behind."""
        conn = self._connection()
        cursor = conn.cursor()
        try:
            yield cursor
            conn.commit()
        except BaseException as exc:
            self._rollback(conn)
            code = sqlstate(exc) or ""
            lost = isinstance(exc, self._lost)
            if lost or code.startswith(("08", "57")):
                self._discard(conn)  # the connection is gone or closing: open a new one next time
            if lost or code[:2] in TRANSIENT_SQLSTATE_CLASSES:
                raise StoreError(f"PostgreSQL store unavailable: {describe(exc)}") from None
            raise

    def _rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except (self._pg.Error, OSError):
            self._discard(conn)

    def _discard(self, conn: Any) -> None:
        if self._conn is conn:
            self._conn = None
        with suppress(self._pg.Error, OSError):
            conn.close()

    def _insert_many(self, cur: Any, statement: str, rows: Sequence[tuple]) -> None:
        # pg8000's executemany is one round trip per row; one INSERT with many VALUES rows is not.
        head, values, tail = split_values(statement)
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            cur.execute(
                self._sql(f"{head} VALUES {', '.join([values] * len(chunk))} {tail}"),
                [value for row in chunk for value in row],
            )

    def _retention_lock(self, cur: Any) -> bool:
        # Replicas share the store: one of them deletes at a time, the others skip the round.
        cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (RETENTION_LOCK,))
        return bool(cur.fetchone()[0])

    def size_bytes(self) -> int | None:
        with self._tx() as cur:
            cur.execute(
                "SELECT pg_total_relation_size('predictions'::regclass)"
                " + pg_total_relation_size('feedback'::regclass)"
            )
            return int(cur.fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._discard(self._conn)


def split_values(statement: str) -> tuple[str, str, str]:
    """`INSERT ... VALUES (?, ...) ON CONFLICT ...` as (head, the values tuple, tail)."""
    head, rest = statement.split("VALUES", 1)
    values, tail = rest.split(")", 1)
    return head.strip(), values.strip() + ")", tail.strip()
