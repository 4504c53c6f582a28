"""Audit export round trip: what was predicted, how it was explained and what experts said comes back
out of GET /v1/models/{name}/audit and `explainops-server audit export`, byte for byte the same."""

from __future__ import annotations

import json
import subprocess
import time

import httpx

from .conftest import MODEL, VENV_BIN

TOKEN = "audit-token"


def export(dsn: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "explainops-server"), "audit", "export", "--feedback-store", dsn, *args],
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_audit_export_round_trip_over_http_and_the_cli(run_server, small_model, tmp_path):
    dsn = f"sqlite:///{tmp_path / 'audit.db'}"
    server = run_server(small_model, feedback_store=dsn, auth_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    rows = small_model.holdout[:5].tolist()
    with httpx.Client(base_url=server.url, timeout=60, headers=auth) as http:
        predicted = http.post(f"/v1/models/{MODEL}:predict", json={"instances": rows[:3]}).json()
        time.sleep(0.05)
        middle = time.time()
        time.sleep(0.05)
        explained = http.post(f"/v1/models/{MODEL}:explain", json={"instances": rows[3:]}).json()
        first, last = predicted["prediction_ids"][0], explained["prediction_ids"][-1]
        for body in (
            {"prediction_id": first, "label": 1 - predicted["predictions"][0], "source": "dr-lee", "comment": "no"},
            {"prediction_id": first, "correct": True, "source": "dr-kim"},
            {"prediction_id": last, "explanation_rating": 4},
        ):
            assert http.post(f"/v1/models/{MODEL}/feedback", json=body).status_code == 201

        assert httpx.get(f"{server.url}/v1/models/{MODEL}/audit", timeout=30).status_code == 401
        response = http.get(f"/v1/models/{MODEL}/audit")
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.text.splitlines()]
        since_middle = http.get(f"/v1/models/{MODEL}/audit", params={"since": str(middle)})
        until_middle = http.get(f"/v1/models/{MODEL}/audit", params={"until": str(middle)})
        bad = http.get(f"/v1/models/{MODEL}/audit", params={"since": "yesterday"})
        reversed_range = http.get(f"/v1/models/{MODEL}/audit", params={"since": "2026-12-02", "until": "2026-12-01"})

    ids = predicted["prediction_ids"] + explained["prediction_ids"]
    # Oldest first (rows of one request share their time, then go by id).
    order = [line["prediction_id"] for line in lines]
    assert set(order[:3]) == set(predicted["prediction_ids"]) and set(order[3:]) == set(explained["prediction_ids"])
    by_id = {line["prediction_id"]: line for line in lines}
    for i, pid in enumerate(ids):
        line = by_id[pid]
        assert line["model_name"] == MODEL and line["model_version"] == "v1"
        assert line["inputs"] == rows[i] and line["time"].endswith("Z")
    assert by_id[first]["output"]["predicted_label"] == predicted["predictions"][0]
    assert by_id[first]["output"]["probabilities"] == predicted["probabilities"][0]
    assert by_id[first]["explanation"] is None
    assert by_id[last]["explainer"] == "tree_shap"
    assert by_id[last]["explanation"]["top_features"] == explained["explanations"][-1]["top_features"]
    assert [(f["source"], f["correct"]) for f in by_id[first]["feedback"]] == [("dr-lee", None), ("dr-kim", True)]
    assert by_id[first]["feedback"][0]["comment"] == "no"
    assert by_id[last]["feedback"][0]["explanation_rating"] == 4

    assert {json.loads(x)["prediction_id"] for x in since_middle.text.splitlines()} == set(explained["prediction_ids"])
    assert {json.loads(x)["prediction_id"] for x in until_middle.text.splitlines()} == set(predicted["prediction_ids"])
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input" and "since" in bad.json()["detail"]
    assert reversed_range.status_code == 422 and "until" in reversed_range.json()["detail"]

    # Offline, from the same store: the same bytes.
    offline = export(dsn, "--model-name", MODEL)
    assert offline.returncode == 0, offline.stderr.decode()
    assert offline.stdout == response.content
    windowed = export(dsn, "--since", str(middle))
    assert windowed.stdout == since_middle.content
    refused = export(dsn, "--until", "not-a-time")
    assert refused.returncode == 2 and b"--until" in refused.stderr


def test_store_audit_pages_through_equal_times_on_both_stores(store_dsn):
    from explainops_server.feedback import open_store
    from explainops_server.feedback.base import FeedbackRecord, PredictionRecord

    with open_store(store_dsn) as store:
        records = [
            PredictionRecord(f"p{i}", MODEL if i != 3 else "other", "v1", [float(i)], [0.5, 0.5], 0, created_at=100.0 + i // 3)
            for i in range(8)
        ]
        store.record_predictions(records)
        store.add_feedback([FeedbackRecord(feedback_id="f", prediction_id="p5", model_name=MODEL, created_at=200.0, label=1)], atomic=False)
        every = list(store.audit_records(None, None, None, page=2))
        mine = list(store.audit_records(MODEL, 101.0, 102.0, page=2))
    assert [r["prediction_id"] for r in every] == [f"p{i}" for i in range(8)]
    assert [r["prediction_id"] for r in mine] == ["p4", "p5"]  # p3 is another model's; 102 is excluded
    assert mine[1]["feedback"][0]["label"] == 1 and mine[0]["feedback"] == []
