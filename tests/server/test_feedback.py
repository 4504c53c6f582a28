"""Feedback API and stats, the same suite against SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from explainops_server.feedback import open_store
from explainops_server.feedback.base import FeedbackRecord, PredictionRecord
from explainops_server.service.contract import VersionStatsOut

from .conftest import MODEL


@pytest.fixture
def fb(run_server, small_model, store_dsn):
    """(server, client) with the parametrised store; predictions flushed only every 10 s, so every
    feedback below also proves the join with not-yet-flushed predictions."""
    server = run_server(small_model, feedback_store=store_dsn, record_flush_ms=10_000)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield server, http


def predict(http: httpx.Client, rows) -> tuple[list[str], list[int]]:
    body = http.post(f"/v1/models/{MODEL}:predict", json={"instances": rows.tolist()}).json()
    return body["prediction_ids"], body["predictions"]


def stats(http: httpx.Client, window: int) -> dict:
    response = http.get(f"/v1/models/{MODEL}/feedback/stats", params={"window": window})
    assert response.status_code == 200, response.text
    return response.json()


def test_scripted_feedback_sequence_gives_exact_stats(fb, small_model):
    _, http = fb
    ids, predicted = predict(http, small_model.holdout[:6])
    wrong = [1 - p for p in predicted]
    script = [
        # (prediction index, body)         running verdicts by prediction, in feedback order
        (0, {"label": predicted[0], "explanation_rating": 5}),  # p0 right
        (1, {"label": wrong[1]}),  # p1 wrong
        (2, {"correct": True, "explanation_rating": 4}),  # p2 right
        (3, {"correct": False}),  # p3 wrong
        (4, {"explanation_rating": 1, "comment": "unclear"}),  # rating only: not labelled
        (1, {"label": predicted[1], "source": "expert"}),  # p1 corrected: now right, and newest
    ]
    for index, body in script:
        response = http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": ids[index], **body})
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "created" and response.json()["model_version"] == "v1"

    # Labelled predictions, newest label first: p1 (right), p3 (wrong), p2 (right), p0 (right).
    full = stats(http, 100)
    assert full["model_name"] == MODEL and full["model_version"] == "v1"
    assert full["predictions"] == 6
    assert full["labelled_count"] == 4 and full["window_count"] == 4
    assert full["accuracy"] == pytest.approx(0.75) and full["error_rate"] == pytest.approx(0.25)
    assert full["explanation_ratings"] == 3
    assert full["mean_explanation_rating"] == pytest.approx(10 / 3)
    assert [v["model_version"] for v in full["by_version"]] == ["v1"]
    assert full["by_version"][0]["accuracy"] == full["accuracy"]

    last_two = stats(http, 2)  # p1 right, p3 wrong
    assert (last_two["window"], last_two["window_count"], last_two["labelled_count"]) == (2, 2, 4)
    assert last_two["accuracy"] == pytest.approx(0.5)

    newest = stats(http, 1)
    assert newest["accuracy"] == pytest.approx(1.0) and newest["error_rate"] == pytest.approx(0.0)

    metrics = http.get("/metrics").text
    assert f'explainops_feedback_labelled_count{{model="{MODEL}",model_version="v1"}} 4.0' in metrics
    assert f'explainops_feedback_accuracy{{model="{MODEL}",model_version="v1"}} 0.75' in metrics
    assert f'explainops_feedback_predictions{{model="{MODEL}",model_version="v1"}} 6.0' in metrics

    listing = http.get(f"/v1/models/{MODEL}/predictions", params={"limit": 6}).json()["predictions"]
    feedback_of_p1 = next(p for p in listing if p["prediction_id"] == ids[1])["feedback"]
    assert [f["label"] for f in feedback_of_p1] == [wrong[1], predicted[1]]


def test_empty_stats_are_null_not_zero(fb):
    _, http = fb
    empty = stats(http, 10)
    assert (empty["labelled_count"], empty["accuracy"], empty["error_rate"]) == (0, None, None)
    assert empty["mean_explanation_rating"] is None and empty["by_version"] == []


def test_feedback_is_idempotent_on_feedback_id(fb, small_model):
    _, http = fb
    (pid,), _ = predict(http, small_model.holdout[:1])
    body = {"prediction_id": pid, "feedback_id": "fb-1", "label": 0}
    first = http.post(f"/v1/models/{MODEL}/feedback", json=body)
    again = http.post(f"/v1/models/{MODEL}/feedback", json=body)
    assert (first.status_code, first.json()["status"]) == (201, "created")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert stats(http, 10)["labelled_count"] == 1
    changed = http.post(f"/v1/models/{MODEL}/feedback", json={**body, "label": 1})
    assert changed.status_code == 409 and "fb-1" in changed.json()["detail"]


def test_unknown_prediction_is_404(fb):
    _, http = fb
    response = http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": "nope", "label": 1})
    assert response.status_code == 404
    assert response.json()["error"] == "prediction_not_found" and "nope" in response.json()["detail"]
    other_model = http.post("/v1/models/other/feedback", json={"prediction_id": "nope", "label": 1})
    assert other_model.status_code == 404 and other_model.json()["error"] == "model_not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": 1}, "prediction_id"),
        ({"prediction_id": "x", "explanation_rating": 6}, "explanation_rating"),
        ({"prediction_id": "x", "explanation_rating": 0}, "explanation_rating"),
        ({"prediction_id": "x", "label": "one"}, "label"),
        ({"prediction_id": "x", "label": -1}, "label"),
        ({"prediction_id": "x", "correct": "yes"}, "correct"),
        ({"prediction_id": "x", "label": 1, "colour": "red"}, "colour"),
        ({"prediction_id": "x", "comment": "no label"}, "body"),
    ],
)
def test_invalid_feedback_is_422_naming_the_field(fb, small_model, body, field):
    _, http = fb
    (pid,), _ = predict(http, small_model.holdout[:1])
    if body.get("prediction_id") == "x":
        body = {**body, "prediction_id": pid}
    response = http.post(f"/v1/models/{MODEL}/feedback", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input" and field in response.json()["detail"]


def test_label_outside_the_classes_is_422(fb, small_model):
    _, http = fb
    (pid,), _ = predict(http, small_model.holdout[:1])
    response = http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": pid, "label": 2})
    assert response.status_code == 422 and "label" in response.json()["detail"]


def test_batch_feedback_is_all_or_nothing(fb, small_model):
    _, http = fb
    ids, predicted = predict(http, small_model.holdout[:3])
    records = [
        {"prediction_id": pid, "feedback_id": f"b-{i}", "label": predicted[i]} for i, pid in enumerate(ids)
    ]
    bad = http.post(
        f"/v1/models/{MODEL}/feedback:batch",
        json={"records": [*records, {"prediction_id": "ghost", "label": 0}]},
    )
    assert bad.status_code == 404 and "records[3].prediction_id" in bad.json()["detail"]
    assert stats(http, 10)["labelled_count"] == 0

    invalid = http.post(
        f"/v1/models/{MODEL}/feedback:batch",
        json={"records": [*records, {"prediction_id": ids[0], "explanation_rating": 9}]},
    )
    assert invalid.status_code == 422 and "records[3].explanation_rating" in invalid.json()["detail"]

    ok = http.post(f"/v1/models/{MODEL}/feedback:batch", json={"records": records})
    assert ok.status_code == 200 and (ok.json()["created"], ok.json()["duplicates"]) == (3, 0)
    again = http.post(f"/v1/models/{MODEL}/feedback:batch", json={"records": records})
    assert (again.json()["created"], again.json()["duplicates"]) == (0, 3)
    assert stats(http, 10)["accuracy"] == pytest.approx(1.0)
    empty = http.post(f"/v1/models/{MODEL}/feedback:batch", json={"records": []})
    assert empty.status_code == 422 and "records" in empty.json()["detail"]


def test_explanation_feedback_refers_to_the_explain_prediction_id(fb, small_model):
    _, http = fb
    body = http.post(
        f"/v1/models/{MODEL}:explain", json={"instances": small_model.holdout[:1].tolist()}
    ).json()
    pid = body["prediction_ids"][0]
    response = http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": pid, "explanation_rating": 2})
    assert response.status_code == 201
    listed = http.get(f"/v1/models/{MODEL}/predictions", params={"limit": 1}).json()["predictions"][0]
    assert listed["prediction_id"] == pid and listed["explanation"]["type"] == "tree_shap"
    assert listed["feedback"][0]["explanation_rating"] == 2


def test_store_stats_per_version_and_labelled_examples(store_dsn):
    """Two versions side by side, as after a promotion; and what the retraining job reads."""
    with open_store(store_dsn) as store:
        predictions = [
            PredictionRecord(f"p{i}", MODEL, version, [float(i), 1.0], [0.2, 0.8], 1, created_at=100.0 + i)
            for i, version in enumerate(["v1", "v1", "v2", "v2", "v2"])
        ]
        store.record_predictions(predictions)
        store.record_predictions(predictions[:1])  # re-sent after a retry: ignored
        feedback = [
            FeedbackRecord(feedback_id="f0", prediction_id="p0", model_name=MODEL, created_at=200.0, label=1),
            FeedbackRecord(feedback_id="f1", prediction_id="p1", model_name=MODEL, created_at=201.0, label=0),
            FeedbackRecord(feedback_id="f2", prediction_id="p2", model_name=MODEL, created_at=202.0, correct=True, explanation_rating=4),
            FeedbackRecord(feedback_id="f3", prediction_id="p3", model_name=MODEL, created_at=203.0, explanation_rating=2),
            FeedbackRecord(feedback_id="f4", prediction_id="p4", model_name="another-model", created_at=204.0, label=1),
        ]
        outcomes = store.add_feedback(feedback, atomic=False)
        assert [o.status for o in outcomes] == ["created"] * 4 + ["unknown_prediction"]
        by_version = {s.model_version: VersionStatsOut.of(s).model_dump() for s in store.version_stats(MODEL, 10)}
        assert by_version["v1"]["predictions"] == 2 and by_version["v1"]["accuracy"] == pytest.approx(0.5)
        assert by_version["v2"]["labelled_count"] == 1 and by_version["v2"]["accuracy"] == pytest.approx(1.0)
        assert by_version["v2"]["mean_explanation_rating"] == pytest.approx(3.0)
        examples = store.labelled_examples(MODEL)
        assert [(e.prediction_id, e.model_version, e.label, e.inputs) for e in examples] == [
            ("p0", "v1", 1, [0.0, 1.0]),
            ("p1", "v1", 0, [1.0, 1.0]),
            ("p2", "v2", 1, [2.0, 1.0]),  # correct=True: the predicted label is the true one
        ]
        assert examples[0].created_at == pytest.approx(200.0)
