"""PostgreSQL store (psycopg 3) for several replicas sharing one feedback history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from explainops_server.errors import StoreError
from explainops_server.feedback.sql import ADDED_FLOAT_COLUMNS, SqlFeedbackStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
  prediction_id   TEXT PRIMARY KEY,
  model_name      TEXT NOT NULL,
  model_version   TEXT NOT NULL,
  inputs          TEXT NOT NULL,
  probabilities   TEXT NOT NULL,
  predicted_label INTEGER,
  request_id      TEXT,
  explainer       TEXT,
  explanation     TEXT,
  created_at      DOUBLE PRECISION NOT NULL,
  predicted_value DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS predictions_by_model ON predictions (model_name, created_at);
CREATE TABLE IF NOT EXISTS feedback (
  seq                BIGSERIAL PRIMARY KEY,
  feedback_id        TEXT NOT NULL UNIQUE,
  prediction_id      TEXT NOT NULL REFERENCES predictions (prediction_id),
  model_name         TEXT NOT NULL,
  model_version      TEXT NOT NULL,
  label              INTEGER,
  correct            INTEGER,
  explanation_rating INTEGER,
  comment            TEXT,
  source             TEXT,
  created_at         DOUBLE PRECISION NOT NULL,
  value              DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS feedback_by_model ON feedback (model_name, model_version);
CREATE INDEX IF NOT EXISTS feedback_by_prediction ON feedback (prediction_id);
"""


class PostgresFeedbackStore(SqlFeedbackStore):
    dsn_scheme = "postgresql"
    placeholder = "%s"

    def __init__(self, dsn: str) -> None:
        super().__init__()
        import psycopg

        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(dsn, connect_timeout=10)
            with self._conn.transaction(), self._conn.cursor() as cur:
                # Replicas may start together: serialise schema creation.
                cur.execute("SELECT pg_advisory_xact_lock(74210501)")
                cur.execute(SCHEMA)
                for table, column in ADDED_FLOAT_COLUMNS:
                    cur.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} DOUBLE PRECISION")
        except psycopg.Error as exc:
            raise StoreError(f"cannot open PostgreSQL store: {exc}") from None

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield cur
        except self._psycopg.OperationalError as exc:
            raise StoreError(f"PostgreSQL store unavailable: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
