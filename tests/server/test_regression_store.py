"""Regression feedback in both stores: windowed MAE/RMSE, the latest value per prediction, mixed-type
inputs kept as sent, and a classifier-era store upgraded by migration 3 taking regression rows."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from explainops_server.feedback import open_store
from explainops_server.feedback.base import FeedbackRecord, PredictionRecord
from explainops_server.service.contract import VersionStatsOut

MODEL = "yield"
TESTDATA = Path(__file__).parent / "testdata"


def prediction(i: int, value: float, version: str = "v1") -> PredictionRecord:
    return PredictionRecord(
        f"p{i}", MODEL, version, [float(i), "red"], [], None, created_at=100.0 + i, predicted_value=value
    )


def truth(feedback_id: str, prediction_id: str, value: float, at: float) -> FeedbackRecord:
    return FeedbackRecord(
        feedback_id=feedback_id, prediction_id=prediction_id, model_name=MODEL, created_at=at, value=value
    )


def test_windowed_mae_and_rmse(store_dsn):
    with open_store(store_dsn) as store:
        store.record_predictions([prediction(i, 10.0 + i) for i in range(4)])
        truths = [11.0, 10.0, 12.0, 17.0]  # errors +1, -1, 0, +4
        outcomes = store.add_feedback(
            [truth(f"f{i}", f"p{i}", v, 200.0 + i) for i, v in enumerate(truths)], atomic=True
        )
        assert {o.status for o in outcomes} == {"created"}
        (stats,) = [VersionStatsOut.of(s).model_dump() for s in store.version_stats(MODEL, 3)]
        # the window holds the 3 newest predictions: errors -1, 0, +4
        assert stats["labelled_count"] == 4 and stats["window_count"] == 3
        assert stats["mae"] == pytest.approx(5 / 3)
        assert stats["rmse"] == pytest.approx(math.sqrt(17 / 3))
        assert stats["accuracy"] is None and stats["error_rate"] is None
        # a correction replaces the earlier value of the same prediction
        store.add_feedback([truth("f9", "p3", 13.0, 300.0)], atomic=True)
        (stats,) = [VersionStatsOut.of(s).model_dump() for s in store.version_stats(MODEL, 3)]
        assert stats["labelled_count"] == 4 and stats["mae"] == pytest.approx(1 / 3)  # errors -1, 0, 0
        examples = {e.prediction_id: e for e in store.labelled_examples(MODEL)}
        assert examples["p3"].value == 13.0 and examples["p3"].label is None
        assert examples["p3"].inputs == [3.0, "red"]
        listing = {p["prediction_id"]: p for p in store.recent_predictions(MODEL, 10)}
        assert listing["p3"]["predicted_value"] == 13.0 and listing["p3"]["predicted_label"] is None
        assert [f["value"] for f in listing["p3"]["feedback"]] == [17.0, 13.0]


def test_a_repeated_value_is_a_duplicate_and_a_different_one_a_conflict(store_dsn):
    with open_store(store_dsn) as store:
        store.record_predictions([prediction(0, 5.0)])
        assert store.add_feedback([truth("f", "p0", 6.0, 1.0)], atomic=True)[0].status == "created"
        assert store.add_feedback([truth("f", "p0", 6.0, 1.0)], atomic=True)[0].status == "duplicate"
        assert store.add_feedback([truth("f", "p0", 7.0, 1.0)], atomic=True)[0].status == "conflict"


def test_classifier_figures_have_no_errors(store_dsn):
    with open_store(store_dsn) as store:
        store.record_predictions([PredictionRecord("c", MODEL, "v1", [1.0], [0.2, 0.8], 1, created_at=1.0)])
        store.add_feedback(
            [FeedbackRecord(feedback_id="f", prediction_id="c", model_name=MODEL, created_at=2.0, label=1)],
            atomic=True,
        )
        (stats,) = [VersionStatsOut.of(s).model_dump() for s in store.version_stats(MODEL, 10)]
        assert stats["accuracy"] == 1.0 and stats["mae"] is None and stats["rmse"] is None


def test_a_store_from_before_regression_takes_regression_rows(tmp_path):
    """Migration 3 relaxes predicted_label's NOT NULL on a store whose file was made without it."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((TESTDATA / "schema_before_migrations_sqlite.sql").read_text())
        conn.execute("INSERT INTO predictions VALUES ('old', 'm', 'v1', '[1.0]', '[0.3, 0.7]', 1, NULL, NULL, NULL, 1.0)")
        conn.execute(
            "INSERT INTO feedback (feedback_id, prediction_id, model_name, model_version, label, created_at)"
            " VALUES ('f', 'old', 'm', 'v1', 1, 2.0)"
        )
    conn.close()
    with open_store(f"sqlite:///{path}") as store:
        store.record_predictions(
            [PredictionRecord("new", "m", "v1", [2.0], [], None, created_at=3.0, predicted_value=4.0)]
        )
        store.add_feedback(
            [FeedbackRecord(feedback_id="g", prediction_id="new", model_name="m", created_at=4.0, value=5.0)],
            atomic=True,
        )
        (stats,) = [VersionStatsOut.of(s).model_dump() for s in store.version_stats("m", 10)]
        assert stats["accuracy"] == 1.0 and stats["mae"] == 1.0 and stats["labelled_count"] == 2
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        columns = {row[1]: row[3] for row in conn.execute("PRAGMA table_info(predictions)")}  # name -> notnull
    conn.close()
    assert columns["predicted_label"] == 0 and "predicted_value" in columns
