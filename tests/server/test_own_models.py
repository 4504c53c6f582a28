"""Bring your own model, end to end for every supported estimator kind:
package -> serve (127.0.0.1) -> predict -> explain -> feedback -> stats and /metrics -> retrain -> validate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import numpy as np
import pytest

import explainops_server
from explainops_server.models.artifact import read_metadata
from explainops_server.service.validation import validate_artifact
from explainops_server.settings import ServerSettings
from explainops_server.training.cli import main as train_main

from .conftest import ThreadedServer, free_port
from .own_models import CASES, Case, feature_names, features, fitted, table

LABELLED = 40
KERNEL_PARAMS = {"nsamples": 64, "background_size": 10}


def rows_for_request(case: Case, frame) -> list:
    """Objects keyed by column for categorical models (mixed strings and numbers), lists otherwise."""
    names = feature_names(case)
    records = frame[names].to_dict(orient="records")
    if case.categorical:
        return records
    return [[float(r[n]) for n in names] for r in records]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_package_serve_predict_explain_feedback_stats_retrain(case: Case, tmp_path: Path):
    train, holdout, gate_rows = table(seed=0), table(seed=1, rows=LABELLED), table(seed=2, rows=120)
    estimator = fitted(case, train)
    packaged = explainops_server.package(
        estimator,
        features(case, train),
        case.target(train),
        out=tmp_path / "models" / "own",
        feature_names=feature_names(case) if case.plain_array else None,
        holdout=(features(case, gate_rows), case.target(gate_rows)),  # the gate's base holdout
    )
    meta = read_metadata(Path(packaged.uri))
    assert meta.task == case.task
    assert meta.feature_names == feature_names(case)
    assert meta.categories == ({"colour": ["blue", "green", "red"]} if case.categorical else {})
    assert (Path(packaged.uri) / "train.csv").is_file() and meta.training_data
    assert (Path(packaged.uri) / "holdout.csv").is_file() and meta.holdout_data

    dsn = f"sqlite:///{tmp_path / 'feedback.db'}"
    settings = ServerSettings(
        model_name="own",
        model_uri=packaged.uri,
        http_port=free_port(),
        data_dir=tmp_path,
        feedback_store=dsn,
        explainer=case.explainer,
        explainer_params=KERNEL_PARAMS if case.explainer == "kernel_shap" else {},
        record_flush_ms=20,
    )
    truth = case.target(holdout)
    with ThreadedServer(settings) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        base = "/v1/models/own"
        instances = rows_for_request(case, holdout)
        predicted = client.post(f"{base}:predict", json={"instances": instances})
        assert predicted.status_code == 200, predicted.text
        body = predicted.json()
        assert len(body["predictions"]) == len(body["prediction_ids"]) == LABELLED
        local = estimator.predict(features(case, holdout))
        if case.task == "regression":
            assert body["probabilities"] is None
            np.testing.assert_allclose(body["predictions"], local, rtol=1e-9, atol=1e-9)
        else:
            served_labels = [meta.class_names[i] for i in body["predictions"]]
            assert served_labels == [str(v) for v in local]

        if case.explainer == "ale":
            ale = client.get(f"{base}/explanations/ale")
            assert ale.status_code == 200, ale.text
            explanation = ale.json()["explanation"]
            assert [f["feature"] for f in explanation["features"]] == feature_names(case)[:3]
            assert explanation["skipped_categorical"] == ["colour"]
            assert explanation["target_names"] == [meta.target_name]
        else:
            explained = client.post(f"{base}:explain", json={"instances": instances[:1]})
            assert explained.status_code == 200, explained.text
            (explanation,) = explained.json()["explanations"]
            if case.explainer == "anchor_tabular":
                for term in explanation["anchor"]:  # "colour = red", "-0.01 < size <= 0.63"
                    named = [n for n in feature_names(case) if n in term.split()]
                    assert len(named) == 1, term
                    if named == ["colour"]:
                        assert term in {"colour = red", "colour = green", "colour = blue"}, term
            else:
                assert explanation["feature_names"] == feature_names(case)
                assert all(len(v) == len(feature_names(case)) for v in explanation["shap_values"])
                if case.task == "regression":
                    assert explanation["predicted_value"] == pytest.approx(body["predictions"][0])

        ids = body["prediction_ids"]
        if case.task == "regression":
            records = [{"prediction_id": i, "value": float(v)} for i, v in zip(ids, truth, strict=True)]
        else:
            index = {name: k for k, name in enumerate(meta.class_names)}
            records = [{"prediction_id": i, "label": index[str(v)]} for i, v in zip(ids, truth, strict=True)]
        ack = client.post(f"{base}/feedback:batch", json={"records": records})
        assert ack.status_code == 200 and ack.json()["created"] == LABELLED, ack.text

        stats = client.get(f"{base}/feedback/stats", params={"window": 100}).json()
        assert stats["labelled_count"] == stats["window_count"] == LABELLED
        metrics = client.get("/metrics").text
        if case.task == "regression":
            error = np.asarray(body["predictions"]) - truth
            assert stats["accuracy"] is None and stats["error_rate"] is None
            assert stats["mae"] == pytest.approx(float(np.mean(np.abs(error))))
            assert stats["rmse"] == pytest.approx(math.sqrt(float(np.mean(error**2))))
            assert f'explainops_feedback_mae{{model="own",model_version="v1"}} {stats["mae"]!r}' in metrics
        else:
            expected = float(np.mean([p == str(t) for p, t in zip(served_labels, truth, strict=True)]))
            assert stats["accuracy"] == pytest.approx(expected)
            assert stats["mae"] is None and stats["rmse"] is None
            assert "explainops_feedback_accuracy{" in metrics

    log = tmp_path / "train-result.json"
    root = str(Path(packaged.uri).parent)
    code = train_main(
        ["--model-name", "own", "--model-root", root, "--base-version", "v1", "--new-version", "v2",
         "--feedback-store", dsn, "--termination-log", str(log)]
    )  # fmt: skip
    result = json.loads(log.read_text())
    assert code == 0, result
    assert result["counts"]["feedback_rows"] == LABELLED and result["counts"]["feedback_dropped"] == 0
    assert result["counts"]["base_holdout_rows"] == 120
    names = ("holdoutMAE", "holdoutRMSE") if case.task == "regression" else ("holdoutAccuracy",)
    for name in names:
        assert isinstance(result["candidate"][name], float) and isinstance(result["champion"][name], float)
    if case.task == "classification":
        assert result["candidate"]["holdoutAccuracy"] > 0.6  # well above chance on this table
    report = validate_artifact(
        str(Path(root) / "v2"),
        explainer=case.explainer,
        explainer_params=KERNEL_PARAMS if case.explainer == "kernel_shap" else {},
    )
    assert report.ok, report.problems
    assert read_metadata(Path(root) / "v2").categories == meta.categories
