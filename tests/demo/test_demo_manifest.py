"""The demo's inputs and outputs: the ExplainableModel it applies and the report it prints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from kubernetes import client as k8s

from explainops_devtools.demo import (
    GROUP,
    MODEL_CLAIM,
    MODEL_NAME,
    PLURAL,
    SIZE_SCALE,
    VERSION,
    Demo,
    drift,
    format_report,
)


def demo_manifest(tmp_path: Path) -> dict:
    return Demo(tmp_path).manifest()


def test_the_example_is_applied_with_the_volume_and_low_thresholds(tmp_path: Path) -> None:
    xm = demo_manifest(tmp_path)
    spec = xm["spec"]
    assert spec["model"]["storageUri"] == f"pvc://{MODEL_CLAIM}/{MODEL_NAME}"
    assert spec["retraining"]["trainingDataUri"] == f"pvc://{MODEL_CLAIM}/data/{MODEL_NAME}/train.csv"
    assert spec["retraining"]["enabled"] is True and spec["retraining"]["cooldownSeconds"] == 0
    assert spec["feedback"]["thresholds"] == {"minLabelled": 40, "maxErrorRate": 0.25}
    assert spec["explainer"]["type"]  # the example's explainer is kept


def test_the_real_crd_accepts_the_demo_manifest(
    kube_api: k8s.ApiClient, namespace: str, tmp_path: Path
) -> None:
    xm = demo_manifest(tmp_path)
    xm["metadata"]["namespace"] = namespace
    created = k8s.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, xm, dry_run="All"
    )
    # Nothing pruned: every field the demo sets is in the schema.
    assert created["spec"]["feedback"]["thresholds"] == xm["spec"]["feedback"]["thresholds"]
    assert created["spec"]["retraining"]["trainingDataUri"] == xm["spec"]["retraining"]["trainingDataUri"]


def test_drift_scales_only_the_size_features() -> None:
    names = ["mean radius", "mean texture", "worst area", "perimeter error", "mean smoothness"]
    rows = np.arange(10, dtype=np.float64).reshape(2, 5) + 1
    drifted = drift(rows, names)
    np.testing.assert_allclose(drifted[:, [0, 2, 3]], rows[:, [0, 2, 3]] * SIZE_SCALE)
    np.testing.assert_allclose(drifted[:, [1, 4]], rows[:, [1, 4]])


def test_the_report_shows_versions_accuracies_explanations_and_the_console() -> None:
    report = {
        "first_version": "v1",
        "explainer": "TreeShap",
        "thresholds": {"minLabelled": 40, "maxErrorRate": 0.25},
        "accuracy_before_drift": (0.944, "v1"),
        "accuracy_after_drift": (0.503, "v1"),
        "accuracy_after_retraining": (0.923, "v2"),
        "accuracy_clean_after_retraining": (0.937, "v2"),
        "stats_after_drift": {"labelled_count": 200, "error_rate": 0.52, "window_count": 100},
        "stats_before_drift": {"mean_explanation_rating": 4.5, "explanation_ratings": 2},
        "promotion_seconds": 93.2,
        "status": {
            "modelVersion": "v2",
            "retraining": {"lastResult": {"job": "breast-cancer-retrain-1", "outcome": "Promoted"}},
            "history": [{"version": "v2", "fromVersion": "v1", "reason": "ErrorRateAboveThreshold"}],
        },
        "explanations": [
            {
                "explanation": {
                    "predicted_class_name": "benign",
                    "top_features": [{"feature": "worst perimeter", "value": 0.048}],
                }
            },
            {"explanation": {"anchor": ["worst area <= 700"], "predicted_class_name": "benign", "precision": 0.97,
                             "coverage": 0.4}},
        ],
        "console_url": "http://127.0.0.1:1234/console/?model=breast-cancer",
    }  # fmt: skip
    text = format_report(report)
    assert "v1 -> v2 (retraining job breast-cancer-retrain-1, outcome Promoted)" in text
    assert "before drift              0.944  (served by v1)" in text
    assert "after drift               0.503  (served by v1)" in text
    assert "after retraining          0.923  (served by v2)" in text
    assert "error rate 0.520 over the last 100" in text
    assert "benign: top SHAP attributions worst perimeter +0.048" in text
    assert "IF worst area <= 700 THEN benign  (precision 0.97, coverage 0.40)" in text
    assert "http://127.0.0.1:1234/console/?model=breast-cancer" in text
