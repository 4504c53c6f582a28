"""SQL for the store's life beyond serving: drift windows, retention, size and the audit export.

Shared by SQLite and PostgreSQL (the common subset); the dialects add the retention lock and the size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from explainops_server.feedback.base import RetentionBatch

RECENT_INPUTS = """
SELECT inputs FROM predictions WHERE model_name = ? AND model_version = ?
ORDER BY created_at DESC, prediction_id DESC LIMIT ?
"""

# The oldest predictions of one model (index predictions_by_model) whose feedback is all expired too:
# a late label keeps its prediction for another retention period.
EXPIRED_BATCH = """
SELECT p.prediction_id FROM predictions p
WHERE p.model_name = ? AND p.created_at < ?
  AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.prediction_id = p.prediction_id AND f.created_at >= ?)
ORDER BY p.created_at LIMIT ?
"""

AUDIT_PAGE = """
SELECT prediction_id, model_name, model_version, inputs, probabilities, predicted_label, request_id,
       explainer, explanation, created_at
FROM predictions
WHERE (CAST(? AS TEXT) IS NULL OR model_name = ?) AND created_at >= ? AND created_at < ?
  AND (created_at > ? OR (created_at = ? AND prediction_id > ?))
ORDER BY created_at, prediction_id LIMIT ?
"""

FAR_FUTURE = 1e18


class SqlLifecycleMixin:
    """Needs `_tx()`, `_sql()` and `_select_in()` of `SqlFeedbackStore`."""

    _tx: Any
    _sql: Any
    _select_in: Any

    def _retention_lock(self, cur: Any) -> bool:
        """Take the store-wide retention lock inside the transaction; False if another holds it."""
        return True

    def recent_inputs(self, model_name: str, model_version: str, limit: int) -> list[list[float]]:
        with self._tx() as cur:
            cur.execute(self._sql(RECENT_INPUTS), (model_name, model_version, limit))
            return [json.loads(row[0]) for row in cur.fetchall()]

    def delete_expired(self, model_name: str, cutoff: float, batch: int) -> RetentionBatch:
        with self._tx() as cur:
            if not self._retention_lock(cur):
                return RetentionBatch(skipped=True)
            cur.execute(self._sql(EXPIRED_BATCH), (model_name, cutoff, cutoff, batch))
            ids = [row[0] for row in cur.fetchall()]
            if not ids:
                return RetentionBatch()
            feedback = predictions = 0
            for table in ("feedback", "predictions"):  # feedback first: it references predictions
                marks = ", ".join("?" * len(ids))
                cur.execute(self._sql(f"DELETE FROM {table} WHERE prediction_id IN ({marks})"), ids)
                if table == "feedback":
                    feedback = cur.rowcount
                else:
                    predictions = cur.rowcount
            return RetentionBatch(predictions=predictions, feedback=feedback)

    def row_counts(self) -> dict[str, int]:
        with self._tx() as cur:
            counts = {}
            for table in ("predictions", "feedback"):
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                counts[table] = int(cur.fetchone()[0])
            return counts

    def audit_records(
        self, model_name: str | None, since: float | None, until: float | None, page: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Keyset pages, each its own short transaction: an export never blocks writers for long."""
        low, high = since if since is not None else -FAR_FUTURE, until if until is not None else FAR_FUTURE
        after_time, after_id = low - 1.0, ""
        while True:
            with self._tx() as cur:
                cur.execute(
                    self._sql(AUDIT_PAGE),
                    (model_name, model_name, low, high, after_time, after_time, after_id, page),
                )
                rows = cur.fetchall()
                if not rows:
                    return
                feedback: dict[str, list[dict[str, Any]]] = {row[0]: [] for row in rows}
                found = self._select_in(
                    cur,
                    "SELECT feedback_id, prediction_id, label, correct, explanation_rating, comment, source,"
                    " created_at, seq FROM feedback WHERE prediction_id",
                    list(feedback),
                )
            for row in sorted(found, key=lambda r: r[8]):
                feedback[row[1]].append(
                    {
                        "feedback_id": row[0],
                        "label": row[2],
                        "correct": None if row[3] is None else bool(row[3]),
                        "explanation_rating": row[4],
                        "comment": row[5],
                        "source": row[6],
                        "created_at": float(row[7]),
                    }
                )
            for row in rows:
                yield {
                    "prediction_id": row[0],
                    "model_name": row[1],
                    "model_version": row[2],
                    "created_at": float(row[9]),
                    "inputs": json.loads(row[3]),
                    "output": {"predicted_label": row[5], "probabilities": json.loads(row[4])},
                    "request_id": row[6],
                    "explainer": row[7],
                    "explanation": None if row[8] is None else json.loads(row[8]),
                    "feedback": feedback[row[0]],
                }
            after_time, after_id = float(rows[-1][9]), rows[-1][0]
            if len(rows) < page:
                return
