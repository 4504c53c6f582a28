"""SQLite store (the default): WAL journal, synchronous=FULL, so an acknowledged write is on disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
  created_at      REAL NOT NULL,
  predicted_value REAL
);
CREATE INDEX IF NOT EXISTS predictions_by_model ON predictions (model_name, created_at);
CREATE TABLE IF NOT EXISTS feedback (
  seq                INTEGER PRIMARY KEY AUTOINCREMENT,
  feedback_id        TEXT NOT NULL UNIQUE,
  prediction_id      TEXT NOT NULL REFERENCES predictions (prediction_id),
  model_name         TEXT NOT NULL,
  model_version      TEXT NOT NULL,
  label              INTEGER,
  correct            INTEGER,
  explanation_rating INTEGER,
  comment            TEXT,
  source             TEXT,
  created_at         REAL NOT NULL,
  value              REAL
);
CREATE INDEX IF NOT EXISTS feedback_by_model ON feedback (model_name, model_version);
CREATE INDEX IF NOT EXISTS feedback_by_prediction ON feedback (prediction_id);
"""


class SqliteFeedbackStore(SqlFeedbackStore):
    dsn_scheme = "sqlite"
    fast_local_commit = True

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(SCHEMA)
            for table, column in ADDED_FLOAT_COLUMNS:
                present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} REAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open SQLite store {path}: {exc}") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
