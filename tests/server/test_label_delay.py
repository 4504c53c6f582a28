"""Label delay done right: windows by prediction time, delay figures, labelled share, maximum feedback age."""

from __future__ import annotations

import time

import httpx
import pytest

from explainops_server.feedback import open_store
from explainops_server.feedback.base import FeedbackRecord, PredictionRecord
from explainops_server.service.contract import VersionStatsOut

from .conftest import MODEL


def test_a_late_label_lands_in_the_window_of_its_prediction(store_dsn):
    with open_store(store_dsn) as store:
        store.record_predictions(
            [
                PredictionRecord("old", MODEL, "v1", [1.0], [0.9, 0.1], 0, created_at=1000.0),
                PredictionRecord("new", MODEL, "v1", [2.0], [0.9, 0.1], 0, created_at=2000.0),
                PredictionRecord("unlabelled", MODEL, "v1", [3.0], [0.9, 0.1], 0, created_at=2500.0),
            ]
        )
        # The newer prediction is labelled first (wrong); the older one's label arrives much later (right).
        store.add_feedback([FeedbackRecord(feedback_id="f-new", prediction_id="new", model_name=MODEL, created_at=3000.0, label=1)], atomic=False)
        store.add_feedback([FeedbackRecord(feedback_id="f-old", prediction_id="old", model_name=MODEL, created_at=5000.0, label=0)], atomic=False)
        store.add_feedback([FeedbackRecord(feedback_id="f-old-2", prediction_id="old", model_name=MODEL, created_at=6000.0, correct=True)], atomic=False)
        (newest,) = store.version_stats(MODEL, 1)
        assert (newest.window_count, newest.correct_in_window) == (1, 0)  # "new", not the late label
        assert newest.label_delay_mean == pytest.approx(1000.0)
        (both,) = store.version_stats(MODEL, 10)
        figures = VersionStatsOut.of(both)
        assert figures.accuracy == pytest.approx(0.5)
        assert figures.labelled_share == pytest.approx(2 / 3)
        # From each prediction to its *first* label: 1000 s and 4000 s.
        assert figures.label_delay_mean_seconds == pytest.approx(2500.0)
        assert figures.label_delay_max_seconds == pytest.approx(4000.0)


def test_stats_and_metrics_report_labelled_share_and_label_delay(run_server, small_model):
    server = run_server(small_model)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        ids = http.post(f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:4].tolist()}).json()[
            "prediction_ids"
        ]
        for pid in ids[:2]:
            assert http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": pid, "correct": True}).status_code == 201
        http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": ids[2], "explanation_rating": 3})
        stats = http.get(f"/v1/models/{MODEL}/feedback/stats").json()
        metrics = http.get("/metrics").text
    assert stats["labelled_share"] == pytest.approx(0.5)
    assert 0 <= stats["label_delay_mean_seconds"] <= stats["label_delay_max_seconds"] < 30
    # The rating-only record is not a label: two observations.
    assert f'explainops_label_delay_seconds_count{{model="{MODEL}"}} 2.0' in metrics
    assert f'explainops_feedback_labelled_share{{model="{MODEL}",model_version="v1"}} 0.5' in metrics


def test_feedback_older_than_the_maximum_age_gets_422_and_records_nothing(run_server, small_model):
    server = run_server(small_model, feedback_max_age_seconds=1)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        old = http.post(f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:1].tolist()}).json()
        time.sleep(1.3)
        fresh = http.post(f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[1:2].tolist()}).json()
        late = http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": old["prediction_ids"][0], "label": 0})
        assert late.status_code == 422
        assert late.json()["error"] == "feedback_too_late" and old["prediction_ids"][0] in late.json()["detail"]
        batch = http.post(
            f"/v1/models/{MODEL}/feedback:batch",
            json={
                "records": [
                    {"prediction_id": fresh["prediction_ids"][0], "label": 0},
                    {"prediction_id": old["prediction_ids"][0], "label": 1},
                ]
            },
        )
        assert batch.status_code == 422 and "records[1]" in batch.json()["detail"]
        assert http.get(f"/v1/models/{MODEL}/feedback/stats").json()["labelled_count"] == 0
        on_time = http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": fresh["prediction_ids"][0], "label": 0})
        assert on_time.status_code == 201
