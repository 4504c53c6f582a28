"""Retention: a store filled past its retention loses the old rows in bounded batches, while the stats
of the live window stay exact and the rows a retraining reads stay; on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from explainops_server.feedback import open_store
from explainops_server.feedback.base import FeedbackRecord, PredictionRecord
from explainops_server.service.retention import RetentionTask
from explainops_server.training.cli import TrainingSettings

from .conftest import MODEL

DAY = 86_400.0
RETENTION = 30 * DAY
NOW = 1_800_000_000.0


def prediction(pid: str, at: float, label: int = 1, model: str = MODEL) -> PredictionRecord:
    return PredictionRecord(pid, model, "v1", [at % 7, 1.0], [0.3, 0.7], label, created_at=at)


def fill(store) -> None:
    old = [prediction(f"old-{i}", NOW - 40 * DAY + i) for i in range(300)]
    late_labelled = [prediction(f"late-{i}", NOW - 45 * DAY + i) for i in range(5)]
    live = [prediction(f"live-{i}", NOW - DAY + 60 * i) for i in range(100)]
    other_model = [prediction(f"other-{i}", NOW - 40 * DAY + i, model="other") for i in range(10)]
    store.record_predictions(old + late_labelled + live + other_model)
    feedback = [FeedbackRecord(feedback_id=f"f-old-{i}", prediction_id=f"old-{i}", model_name=MODEL, created_at=NOW - 39 * DAY, label=i % 2) for i in range(40)]
    # Predicted 45 days ago, labelled an hour ago: kept, and the trainer reads it.
    feedback += [FeedbackRecord(feedback_id=f"f-late-{i}", prediction_id=f"late-{i}", model_name=MODEL, created_at=NOW - 3600, label=0) for i in range(5)]
    feedback += [
        FeedbackRecord(feedback_id=f"f-live-{i}", prediction_id=f"live-{i}", model_name=MODEL, created_at=NOW - DAY + 60 * i + 30, label=i % 3 and 1)
        for i in range(60)
    ]
    feedback += [FeedbackRecord(feedback_id=f"f-rate-{i}", prediction_id=f"live-{i}", model_name=MODEL, created_at=NOW - 10, explanation_rating=4) for i in range(5)]
    assert all(o.status == "created" for o in store.add_feedback(feedback, atomic=True))


def window_figures(store, window: int) -> tuple:
    (stats,) = store.version_stats(MODEL, window)
    return stats.window_count, stats.correct_in_window, stats.label_delay_mean, stats.label_delay_max


def test_retention_deletes_old_rows_in_bounded_batches_and_keeps_the_live_window_exact(store_dsn):
    with open_store(store_dsn) as store:
        fill(store)
        before = window_figures(store, 50)
        assert store.row_counts() == {"predictions": 415, "feedback": 110}
        size_before = store.size_bytes()
        assert size_before is not None and size_before > 0

        # One batch deletes at most `batch` predictions, with their feedback.
        first = store.delete_expired(MODEL, NOW - RETENTION, 64)
        assert (first.predictions, first.feedback) == (64, 40)  # the oldest 64 hold all 40 old labels

        deleted: list[tuple[int, int]] = []
        task = RetentionTask(store, MODEL, int(RETENTION), 60, 64, lambda p, f: deleted.append((p, f)), clock=lambda: NOW)
        result = task.run_once()
        assert result["predictions"] == 300 - 64 and result["feedback"] == 0
        assert all(p <= 64 for p, _ in deleted) and len(deleted) == math.ceil((300 - 64) / 64)

        # Gone: the old predictions of this model. Kept: live rows, late-labelled rows, another model's rows.
        counts = store.row_counts()
        assert counts == {"predictions": 115, "feedback": 70}
        assert window_figures(store, 50) == pytest.approx(before)
        assert task.run_once()["predictions"] == 0  # nothing left to delete

        # What a retraining started now reads: labels inside the retention period (less the margin).
        since = TrainingSettings(
            model_name=MODEL, model_root="/tmp", base_version="v1", new_version="v2", retention_seconds=int(RETENTION)
        ).labelled_since(NOW)
        examples = store.labelled_examples(MODEL, since)
        ids = {e.prediction_id for e in examples}
        assert {f"late-{i}" for i in range(5)} <= ids and len(ids) == 65


def test_the_server_deletes_expired_rows_and_reports_the_store_in_metrics(run_server, small_model):
    server = run_server(small_model, retention_seconds=1, retention_interval=0.2, retention_batch=3)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post(f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:10].tolist()})
        server.dataplane.recorder.flush()
        deadline = time.monotonic() + 20
        while server.dataplane.store.row_counts()["predictions"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.dataplane.store.row_counts()["predictions"] == 0
        metrics = http.get("/metrics").text
    assert 'explainops_retention_deleted_rows_total{table="predictions"} 10.0' in metrics
    assert 'explainops_store_rows{table="predictions"}' in metrics
    assert "explainops_store_bytes " in metrics


@pytest.mark.postgres
def test_postgres_replicas_take_turns_deleting(postgres_dsn):
    """While one replica holds the retention lock, another skips its round instead of waiting."""
    from explainops_server.feedback.postgres import RETENTION_LOCK
    from explainops_server.feedback.postgres_dsn import connect

    with open_store(postgres_dsn) as store:
        store.record_predictions([prediction("old", NOW - 40 * DAY)])
        with connect(postgres_dsn) as other:  # a transaction from the first statement on
            other.cursor().execute("SELECT pg_advisory_xact_lock(%s)", (RETENTION_LOCK,))
            assert store.delete_expired(MODEL, NOW - RETENTION, 10).skipped
            assert store.row_counts()["predictions"] == 1
            other.rollback()
        assert store.delete_expired(MODEL, NOW - RETENTION, 10).predictions == 1


def test_the_trainer_window_is_the_retention_less_a_margin():
    from explainops_server.training.cli import TRAINING_MARGIN_SECONDS

    def since(retention: int) -> float | None:
        return TrainingSettings(
            model_name=MODEL, model_root="/tmp", base_version="v1", new_version="v2", retention_seconds=retention
        ).labelled_since(NOW)

    assert since(0) is None  # no retention: every label
    assert since(int(RETENTION)) == NOW - RETENTION + TRAINING_MARGIN_SECONDS
