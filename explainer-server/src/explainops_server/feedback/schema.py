"""The feedback store schema: one source for SQLite and PostgreSQL, as numbered migrations.

A store records the migrations it has applied in `schema_migrations` (one row per version). Opening a
store applies the pending ones, in order, in one transaction under the store's write lock (SQLite's
`BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so replicas that start together migrate once and a
failed upgrade leaves the store as it was.

Adding a migration (see explainer-server/README.md, "Schema migrations"):
- append `Migration(version=<last + 1>, name=..., statements=(...))` to `MIGRATIONS`;
- write SQL in the subset both databases accept; `{serial_pk}` and `{float}` become each dialect's words;
- for a data change SQL cannot express, give `apply(cursor, dialect)` (runs after the statements);
- never edit or renumber a migration that has been released: stores on users' volumes have applied it.

Migration 1 is the schema as released before versioning, written with `IF NOT EXISTS`: on a store made
by those releases it changes nothing and only stamps the store as version 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Dialect:
    name: str
    words: dict[str, str]
    placeholder: str


SQLITE = Dialect("sqlite", {"serial_pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "float": "REAL"}, "?")
POSTGRES = Dialect("postgresql", {"serial_pk": "BIGSERIAL PRIMARY KEY", "float": "DOUBLE PRECISION"}, "%s")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...] = ()
    apply: Callable[[Any, Dialect], None] | None = field(default=None, compare=False)

    def sql(self, dialect: Dialect) -> list[str]:
        return [statement.format(**dialect.words) for statement in self.statements]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "predictions and feedback",
        (
            """CREATE TABLE IF NOT EXISTS predictions (
  prediction_id   TEXT PRIMARY KEY,
  model_name      TEXT NOT NULL,
  model_version   TEXT NOT NULL,
  inputs          TEXT NOT NULL,
  probabilities   TEXT NOT NULL,
  predicted_label INTEGER NOT NULL,
  request_id      TEXT,
  explainer       TEXT,
  explanation     TEXT,
  created_at      {float} NOT NULL
)""",
            "CREATE INDEX IF NOT EXISTS predictions_by_model ON predictions (model_name, created_at)",
            """CREATE TABLE IF NOT EXISTS feedback (
  seq                {serial_pk},
  feedback_id        TEXT NOT NULL UNIQUE,
  prediction_id      TEXT NOT NULL REFERENCES predictions (prediction_id),
  model_name         TEXT NOT NULL,
  model_version      TEXT NOT NULL,
  label              INTEGER,
  correct            INTEGER,
  explanation_rating INTEGER,
  comment            TEXT,
  source             TEXT,
  created_at         {float} NOT NULL
)""",
            "CREATE INDEX IF NOT EXISTS feedback_by_model ON feedback (model_name, model_version)",
            "CREATE INDEX IF NOT EXISTS feedback_by_prediction ON feedback (prediction_id)",
        ),
    ),
    # The drift monitor reads the newest predictions of the served version every cycle; retention
    # scans predictions_by_model (model, time) and feedback_by_prediction, which exist already.
    Migration(
        2,
        "predictions by model version and time, for the drift window",
        (
            "CREATE INDEX IF NOT EXISTS predictions_by_version"
            " ON predictions (model_name, model_version, created_at)",
        ),
    ),
    # Regressors: a prediction has a value and no class; feedback carries the true value.
    Migration(
        3,
        "regression: predicted value, true value, predictions without a class",
        (
            "ALTER TABLE predictions ADD COLUMN predicted_value {float}",
            "ALTER TABLE feedback ADD COLUMN value {float}",
        ),
        apply=lambda cursor, dialect: _allow_null_predicted_label(cursor, dialect),
    ),
)

_PREDICTED_LABEL_NOT_NULL = re.compile(r"(predicted_label\s+INTEGER)\s+NOT\s+NULL", re.IGNORECASE)


def _allow_null_predicted_label(cursor: Any, dialect: Dialect) -> None:
    """Drop NOT NULL from predictions.predicted_label. PostgreSQL says so directly; SQLite has no ALTER
    COLUMN, and rebuilding the table would fight the feedback rows' foreign keys, so the table's stored
    definition is edited in place, the procedure SQLite documents for removing a NOT NULL constraint
    (https://www.sqlite.org/lang_altertable.html, "other kinds of table schema changes"); the file format
    is unchanged, and it runs inside the migration's transaction."""
    if dialect.name != "sqlite":
        cursor.execute("ALTER TABLE predictions ALTER COLUMN predicted_label DROP NOT NULL")
        return
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'predictions'")
    definition = cursor.fetchone()[0]
    relaxed, count = _PREDICTED_LABEL_NOT_NULL.subn(r"\1", definition)
    if count != 1:
        raise SchemaError("predictions.predicted_label: unexpected table definition, cannot relax NOT NULL")
    cursor.execute("PRAGMA schema_version")
    version = int(cursor.fetchone()[0])
    cursor.execute("PRAGMA writable_schema = ON")
    try:
        cursor.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'predictions'", (relaxed,))
        cursor.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        cursor.execute("PRAGMA writable_schema = OFF")

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at {float} NOT NULL
)"""


class SchemaError(Exception):
    """The migrations are inconsistent, or the store is newer than this code."""


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return migrations[-1].version if migrations else 0


def check_sequence(migrations: Sequence[Migration]) -> None:
    expected = list(range(1, len(migrations) + 1))
    if [m.version for m in migrations] != expected:
        raise SchemaError(f"migration versions must be 1..{len(migrations)} in order")


def applied_versions(cursor: Any) -> list[int]:
    cursor.execute("SELECT version FROM schema_migrations ORDER BY version")
    return [int(row[0]) for row in cursor.fetchall()]


def migrate(cursor: Any, dialect: Dialect, migrations: Sequence[Migration], now: float) -> list[int]:
    """Apply the pending migrations with `cursor`, inside the caller's transaction and lock.

    Returns the versions applied. Raises `SchemaError` if the store has a version this code lacks.
    """
    check_sequence(migrations)
    cursor.execute(VERSION_TABLE.format(**dialect.words))
    done = applied_versions(cursor)
    known = {m.version for m in migrations}
    unknown = [v for v in done if v not in known]
    if unknown:
        raise SchemaError(
            f"the store is at schema version {max(unknown)}, newer than this server "
            f"(it knows up to {latest_version(migrations)}); upgrade the server"
        )
    applied = []
    insert = f"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({', '.join([dialect.placeholder] * 3)})"
    for migration in migrations:
        if migration.version in done:
            continue
        for statement in migration.sql(dialect):
            cursor.execute(statement)
        if migration.apply is not None:
            migration.apply(cursor, dialect)
        cursor.execute(insert, (migration.version, migration.name, now))
        applied.append(migration.version)
    return applied
