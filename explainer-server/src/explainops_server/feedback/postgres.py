"""PostgreSQL store (psycopg 3) for several replicas sharing one feedback history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from explainops_server.errors import StoreError
from explainops_server.feedback.schema import POSTGRES
from explainops_server.feedback.sql import SqlFeedbackStore


class PostgresFeedbackStore(SqlFeedbackStore):
    dsn_scheme = "postgresql"
    dialect = POSTGRES

    def __init__(self, dsn: str) -> None:
        super().__init__()
        import psycopg

        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(dsn, connect_timeout=10)
            self.migrate()
        except psycopg.Error as exc:
            raise StoreError(f"cannot open PostgreSQL store: {exc}") from None

    def _lock_schema(self, cursor: Any) -> None:
        # Replicas may start together: one migrates, the others then find nothing pending.
        cursor.execute("SELECT pg_advisory_xact_lock(74210501)")

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield cur
        except self._psycopg.OperationalError as exc:
            raise StoreError(f"PostgreSQL store unavailable: {exc}") from None

    def _retention_lock(self, cur: Any) -> bool:
        # Replicas share the store: one of them deletes at a time, the others skip the round.
        cur.execute("SELECT pg_try_advisory_xact_lock(74210502)")
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
            self._conn.close()
