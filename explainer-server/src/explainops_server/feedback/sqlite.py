"""SQLite store (the default): WAL journal, synchronous=FULL, so an acknowledged write is on disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from explainops_server.errors import StoreError
from explainops_server.feedback.schema import SQLITE
from explainops_server.feedback.sql import SqlFeedbackStore


class SqliteFeedbackStore(SqlFeedbackStore):
    dsn_scheme = "sqlite"
    dialect = SQLITE
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
            self.migrate()
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

    def size_bytes(self) -> int | None:
        """The database file plus its write-ahead log."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def close(self) -> None:
        with self._lock:
            self._conn.close()
