"""Regression feedback in both stores: windowed MAE/RMSE, the latest value per prediction, mixed-type
inputs kept as sent, and a store created before these columns existed gaining them on open."""

from __future__ import annotations

import math
import sqlite3

import pytest

from explainops_server.feedback import open_store
from explainops_server.feedback.base import FeedbackRecord, PredictionRecord

MODEL = "yield"


def prediction(i: int, value: float, version: str = "v1") -> PredictionRecord:
    return PredictionRecord(
        f"p{i}", MODEL, version, [float(i), "red"], [], None, created_at=100.0 + i, predicted_value=value
    )


def test_windowed_mae_and_rmse(store_dsn):
    with open_store(store_dsn) as store:
        store.record_predictions([prediction(i, 10.0 + i) for i in range(4)])
        truths = [11.0, 10.0, 12.0, 17.0]  # errors +1, -1, 0, +4
        store.add_feedback(
            [FeedbackRecord(f"f{i}", f"p{i}", MODEL, 200.0 + i, value=v) for i, v in enumerate(truths)],
            atomic=True,
        )
        (stats,) = [s.to_dict(3) for s in store.version_stats(MODEL, 3)]
        # the window holds the 3 latest: errors -1, 0, +4
        assert stats["labelled_count"] == 4 and stats["window_count"] == 3
        assert stats["mae"] == pytest.approx(5 / 3)
        assert stats["rmse"] == pytest.approx(math.sqrt(17 / 3))
        assert stats["accuracy"] is None and stats["error_rate"] is None
        # a correction replaces the earlier value of the same prediction
        store.add_feedback([FeedbackRecord("f9", "p3", MODEL, 300.0, value=13.0)], atomic=True)
        (stats,) = [s.to_dict(3) for s in store.version_stats(MODEL, 3)]
        assert stats["labelled_count"] == 4 and stats["mae"] == pytest.approx(1 / 3)  # errors -1, 0, 0
        examples = {e.prediction_id: e for e in store.labelled_examples(MODEL)}
        assert examples["p3"].value == 13.0 and examples["p3"].label is None
        assert examples["p3"].inputs == [3.0, "red"]


def test_an_older_sqlite_store_gains_the_regression_columns(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the schema before regression support
        conn.executescript(
            """
            CREATE TABLE predictions (prediction_id TEXT PRIMARY KEY, model_name TEXT NOT NULL,
              model_version TEXT NOT NULL, inputs TEXT NOT NULL, probabilities TEXT NOT NULL,
              predicted_label INTEGER NOT NULL, request_id TEXT, explainer TEXT, explanation TEXT,
              created_at REAL NOT NULL);
            CREATE TABLE feedback (seq INTEGER PRIMARY KEY AUTOINCREMENT, feedback_id TEXT NOT NULL UNIQUE,
              prediction_id TEXT NOT NULL REFERENCES predictions (prediction_id), model_name TEXT NOT NULL,
              model_version TEXT NOT NULL, label INTEGER, correct INTEGER, explanation_rating INTEGER,
              comment TEXT, source TEXT, created_at REAL NOT NULL);
            INSERT INTO predictions VALUES ('old', 'm', 'v1', '[1.0]', '[0.3, 0.7]', 1, NULL, NULL, NULL, 1.0);
            INSERT INTO feedback (feedback_id, prediction_id, model_name, model_version, label, created_at)
              VALUES ('f', 'old', 'm', 'v1', 1, 2.0);
            """
        )
    with open_store(f"sqlite://{path}") as store:
        (stats,) = [s.to_dict(10) for s in store.version_stats("m", 10)]
        assert stats["accuracy"] == 1.0 and stats["mae"] is None
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(feedback)")}
    assert "value" in columns
