"""SQL shared by both stores. Written for the common subset of SQLite (>= 3.25) and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from explainops_server.errors import StoreError
from explainops_server.feedback.base import (
    FeedbackOutcome,
    FeedbackRecord,
    FeedbackStore,
    LabelledExample,
    PredictionRecord,
    VersionStats,
)
from explainops_server.feedback.schema import (
    MIGRATIONS,
    Dialect,
    Migration,
    SchemaError,
    applied_versions,
    migrate,
)
from explainops_server.feedback.sql_lifecycle import SqlLifecycleMixin

CHUNK = 500

INSERT_PREDICTION = """
INSERT INTO predictions (prediction_id, model_name, model_version, inputs, probabilities, predicted_label,
                         request_id, explainer, explanation, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (prediction_id) DO NOTHING
"""

INSERT_FEEDBACK = """
INSERT INTO feedback (feedback_id, prediction_id, model_name, model_version, label, correct,
                      explanation_rating, comment, source, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (feedback_id) DO NOTHING
"""

# Per prediction the latest labelled feedback counts (a later correction replaces an earlier label).
# `ok` is the explicit `correct` flag, else label == predicted label. The window is the newest
# labelled predictions by the time they were *predicted*, so a late label lands where it belongs
# (rows predicted in the same request tie; the newer label ranks first among them).
# `delay` runs from the prediction to its first label.
STATS_LABELLED = """
WITH latest AS (
  SELECT f.model_version AS model_version, f.seq AS seq, p.created_at AS predicted_at,
         COALESCE(f.correct, CASE WHEN f.label = p.predicted_label THEN 1 ELSE 0 END) AS ok,
         MIN(f.created_at) OVER (PARTITION BY f.prediction_id) - p.created_at AS delay,
         ROW_NUMBER() OVER (PARTITION BY f.prediction_id ORDER BY f.seq DESC) AS rn
  FROM feedback f JOIN predictions p ON p.prediction_id = f.prediction_id
  WHERE f.model_name = ? AND (f.label IS NOT NULL OR f.correct IS NOT NULL)
), ranked AS (
  SELECT model_version, ok, delay,
         ROW_NUMBER() OVER (PARTITION BY model_version ORDER BY predicted_at DESC, seq DESC) AS r
  FROM latest WHERE rn = 1
)
SELECT model_version, COUNT(*),
       SUM(CASE WHEN r <= ? THEN 1 ELSE 0 END),
       SUM(CASE WHEN r <= ? THEN ok ELSE 0 END),
       AVG(CASE WHEN r <= ? THEN delay END),
       MAX(CASE WHEN r <= ? THEN delay END)
FROM ranked GROUP BY model_version
"""

STATS_RATINGS = """
SELECT model_version, COUNT(*), SUM(explanation_rating) FROM feedback
WHERE model_name = ? AND explanation_rating IS NOT NULL GROUP BY model_version
"""

STATS_PREDICTIONS = (
    "SELECT model_version, COUNT(*) FROM predictions WHERE model_name = ? GROUP BY model_version"
)

LABELLED_EXAMPLES = """
WITH latest AS (
  SELECT f.prediction_id, f.label, f.correct, f.created_at,
         ROW_NUMBER() OVER (PARTITION BY f.prediction_id ORDER BY f.seq DESC) AS rn
  FROM feedback f
  WHERE f.model_name = ? AND (f.label IS NOT NULL OR f.correct = 1)
)
SELECT p.prediction_id, p.model_version, p.inputs,
       COALESCE(l.label, p.predicted_label), l.created_at
FROM latest l JOIN predictions p ON p.prediction_id = l.prediction_id
WHERE l.rn = 1 AND l.created_at >= ?
ORDER BY l.created_at, p.prediction_id
"""


class SqlFeedbackStore(SqlLifecycleMixin, FeedbackStore):
    """One connection guarded by a lock; subclasses provide the connection and the dialect."""

    dialect: Dialect

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @abstractmethod
    def _transaction(self) -> Any:
        """Context manager yielding a cursor inside one transaction (commit on success)."""

    def _lock_schema(self, cursor: Any) -> None:
        """Serialise schema changes with other processes, inside the transaction (if the transaction
        alone does not already)."""

    def _lock_feedback(self, cursor: Any) -> None:
        """Serialise feedback writers with other processes (if the transaction alone does not already),
        so that the duplicate / conflict check below sees every record committed before it."""

    def _insert_many(self, cur: Any, statement: str, rows: Sequence[tuple]) -> None:
        """Run the one-row INSERT `statement` for every row, in this transaction."""
        cur.executemany(self._sql(statement), rows)

    def _sql(self, statement: str) -> str:
        placeholder = self.dialect.placeholder
        return statement if placeholder == "?" else statement.replace("?", placeholder)

    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
        """Bring the schema up to the last of `migrations`, all or nothing; returns the versions applied."""
        with self._tx() as cur:
            self._lock_schema(cur)
            try:
                return migrate(cur, self.dialect, migrations, time.time())
            except SchemaError as exc:
                raise StoreError(f"feedback store schema: {exc}") from None

    def schema_version(self) -> int:
        with self._tx() as cur:
            versions = applied_versions(cur)
        return versions[-1] if versions else 0

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, self._transaction() as cursor:
            yield cursor

    def record_predictions(self, records: list[PredictionRecord]) -> None:
        if not records:
            return
        rows = [
            (
                r.prediction_id,
                r.model_name,
                r.model_version,
                json.dumps(r.inputs),
                json.dumps(r.probabilities),
                r.predicted_label,
                r.request_id,
                r.explainer,
                None if r.explanation is None else json.dumps(r.explanation),
                r.created_at,
            )
            for r in records
        ]
        with self._tx() as cur:
            self._insert_many(cur, INSERT_PREDICTION, rows)

    def _select_in(self, cur: Any, sql_prefix: str, values: list[str]) -> list[tuple]:
        found: list[tuple] = []
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            cur.execute(self._sql(f"{sql_prefix} IN ({marks})"), chunk)
            found.extend(cur.fetchall())
        return found

    def add_feedback(
        self, records: list[FeedbackRecord], *, atomic: bool, predicted_after: float | None = None
    ) -> list[FeedbackOutcome]:
        if not records:
            return []
        with self._tx() as cur:
            self._lock_feedback(cur)
            prediction_ids = sorted({r.prediction_id for r in records})
            known = {
                pid: (name, version, float(created))
                for pid, name, version, created in self._select_in(
                    cur,
                    "SELECT prediction_id, model_name, model_version, created_at FROM predictions"
                    " WHERE prediction_id",
                    prediction_ids,
                )
            }
            existing = {
                row[0]: FeedbackRecord.model_construct(
                    feedback_id=row[0],
                    prediction_id=row[1],
                    model_name=row[2],
                    label=row[3],
                    correct=None if row[4] is None else bool(row[4]),
                    explanation_rating=row[5],
                    comment=row[6],
                    source=row[7],
                    created_at=row[8],
                )
                for row in self._select_in(
                    cur,
                    "SELECT feedback_id, prediction_id, model_name, label, correct, explanation_rating, comment,"
                    " source, created_at FROM feedback WHERE feedback_id",
                    sorted({r.feedback_id for r in records}),
                )
            }
            outcomes: list[FeedbackOutcome] = []
            new_rows: list[tuple] = []
            for record in records:
                owner = known.get(record.prediction_id)
                version = owner[1] if owner else None
                predicted_at = owner[2] if owner else None
                previous = existing.get(record.feedback_id)
                if previous is not None:
                    status = "duplicate" if previous.same_content(record) else "conflict"
                elif owner is None or owner[0] != record.model_name:
                    status, version, predicted_at = "unknown_prediction", None, None
                elif predicted_after is not None and owner[2] < predicted_after:
                    status = "too_late"
                else:
                    status = "created"
                    existing[record.feedback_id] = record
                    new_rows.append(
                        (
                            record.feedback_id,
                            record.prediction_id,
                            record.model_name,
                            version,
                            record.label,
                            None if record.correct is None else int(record.correct),
                            record.explanation_rating,
                            record.comment,
                            record.source,
                            record.created_at,
                        )
                    )
                outcomes.append(
                    FeedbackOutcome(record.feedback_id, record.prediction_id, status, version, predicted_at)
                )
            failed = any(o.status in ("unknown_prediction", "conflict", "too_late") for o in outcomes)
            if new_rows and not (atomic and failed):
                self._insert_many(cur, INSERT_FEEDBACK, new_rows)
            return outcomes

    def version_stats(self, model_name: str, window: int) -> list[VersionStats]:
        stats: dict[str, VersionStats] = {}

        def entry(version: str) -> VersionStats:
            return stats.setdefault(version, VersionStats(model_version=version, window=window))

        with self._tx() as cur:
            cur.execute(self._sql(STATS_PREDICTIONS), (model_name,))
            for version, count in cur.fetchall():
                entry(version).predictions = int(count)
            cur.execute(self._sql(STATS_LABELLED), (model_name, window, window, window, window))
            for version, labelled, in_window, correct, delay_mean, delay_max in cur.fetchall():
                s = entry(version)
                s.labelled_count, s.window_count, s.correct_in_window = (
                    int(labelled),
                    int(in_window),
                    int(correct),
                )
                s.label_delay_mean = None if delay_mean is None else float(delay_mean)
                s.label_delay_max = None if delay_max is None else float(delay_max)
            cur.execute(self._sql(STATS_RATINGS), (model_name,))
            for version, count, total in cur.fetchall():
                s = entry(version)
                s.explanation_ratings, s.rating_sum = int(count), float(total)
        return sorted(stats.values(), key=lambda s: s.model_version)

    def recent_predictions(self, model_name: str, limit: int) -> list[dict[str, Any]]:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT prediction_id, model_version, inputs, probabilities, predicted_label, request_id,"
                    " explainer, explanation, created_at FROM predictions WHERE model_name = ?"
                    " ORDER BY created_at DESC, prediction_id DESC LIMIT ?"
                ),
                (model_name, limit),
            )
            predictions = [
                {
                    "prediction_id": row[0],
                    "model_version": row[1],
                    "inputs": json.loads(row[2]),
                    "probabilities": json.loads(row[3]),
                    "predicted_label": row[4],
                    "request_id": row[5],
                    "explainer": row[6],
                    "explanation": None if row[7] is None else json.loads(row[7]),
                    "created_at": row[8],
                    "feedback": [],
                }
                for row in cur.fetchall()
            ]
            by_id = {p["prediction_id"]: p for p in predictions}
            if by_id:
                rows = self._select_in(
                    cur,
                    "SELECT feedback_id, prediction_id, label, correct, explanation_rating, comment, source,"
                    " created_at FROM feedback WHERE prediction_id",
                    list(by_id),
                )
                for row in sorted(rows, key=lambda r: r[7]):
                    by_id[row[1]]["feedback"].append(
                        {
                            "feedback_id": row[0],
                            "label": row[2],
                            "correct": None if row[3] is None else bool(row[3]),
                            "explanation_rating": row[4],
                            "comment": row[5],
                            "source": row[6],
                            "created_at": row[7],
                        }
                    )
        return predictions

    def labelled_examples(self, model_name: str, labelled_since: float | None = None) -> list[LabelledExample]:
        with self._tx() as cur:
            cur.execute(self._sql(LABELLED_EXAMPLES), (model_name, labelled_since or 0.0))
            return [
                LabelledExample(
                    row[0], row[1], [float(v) for v in json.loads(row[2])], int(row[3]), float(row[4])
                )
                for row in cur.fetchall()
            ]
