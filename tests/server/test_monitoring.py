"""Drift monitoring in a running server: off the request path, in stats, /monitoring and /metrics."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from .conftest import MODEL

SIZE_FEATURES = ["mean radius", "mean perimeter", "mean area", "worst radius", "worst perimeter", "worst area"]


def wait_for_cycle(http: httpx.Client, after: float, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = http.get(f"/v1/models/{MODEL}/monitoring").json()
        if doc["computed_at"] is not None and doc["computed_at"] > after and doc["status"] != "pending":
            return doc
        time.sleep(0.1)
    pytest.fail(f"no monitor cycle after {after}: {doc}")


def predict(http: httpx.Client, rows: np.ndarray) -> float:
    for start in range(0, len(rows), 100):
        assert http.post(f"/v1/models/{MODEL}:predict", json={"instances": rows[start : start + 100].tolist()}).status_code == 200
    time.sleep(0.1)  # past the recorder's flush interval
    return time.time()


def test_input_and_explanation_drift_reach_stats_monitoring_and_metrics(run_server, small_model):
    server = run_server(small_model, monitor_interval=0.3, monitor_window=200, monitor_min_rows=50, monitor_explain_rows=16)
    names = small_model.feature_names
    with httpx.Client(base_url=server.url, timeout=60) as http:
        empty = wait_for_cycle(http, 0)
        assert empty["status"] == "insufficient_data" and empty["input_drift"] is None

        rng = np.random.default_rng(0)
        undrifted = small_model.holdout[rng.integers(0, len(small_model.holdout), 200)]
        calm = wait_for_cycle(http, predict(http, undrifted))
        assert calm["status"] == "ok" and calm["input_drift"]["window_rows"] == 200
        assert calm["input_drift"]["share"] <= 0.1
        assert [f["feature"] for f in calm["input_drift"]["features"]] == names
        moved = calm["explanation_drift"]
        assert moved["explainer"] == "tree_shap" and len(moved["features"]) == len(names)
        assert sum(f["reference_share"] for f in moved["features"]) == pytest.approx(1.0)

        # The demo's drift: a new device reports sizes 1.8x larger.
        drifted = undrifted.copy()
        for name in SIZE_FEATURES:
            drifted[:, names.index(name)] *= 1.8
        alarm = wait_for_cycle(http, predict(http, drifted))
        flagged = set(alarm["input_drift"]["drifted_features"])
        assert set(SIZE_FEATURES) <= flagged and alarm["input_drift"]["share"] >= len(SIZE_FEATURES) / len(names)

        deadline = time.monotonic() + 10  # the counts are reused for a second or more
        while (store := http.get(f"/v1/models/{MODEL}/monitoring").json()["store"])["rows"]["predictions"] < 400:
            assert time.monotonic() < deadline, store
            time.sleep(0.2)
        assert store["rows"] == {"predictions": 400, "feedback": 0} and store["bytes"] > 0
        assert store["retention_seconds"] == 30 * 86_400
        stats = http.get(f"/v1/models/{MODEL}/feedback/stats").json()
        metrics = http.get("/metrics").text
    assert stats["input_drift"] >= len(SIZE_FEATURES) / len(names) and stats["explanation_drift"] is not None
    (served,) = [v for v in stats["by_version"] if v["model_version"] == "v1"]
    assert (served["input_drift"], served["explanation_drift"]) == (stats["input_drift"], stats["explanation_drift"])
    series = samples(metrics)
    def key(name: str, **labels: str) -> tuple[str, tuple]:
        return name, tuple(sorted({"model": MODEL, "model_version": "v1", **labels}.items()))

    assert series[key("explainops_input_drift_share")] == pytest.approx(stats["input_drift"])
    assert series[key("explainops_input_drift_drifted", feature="mean area")] == 1.0
    assert series[key("explainops_input_drift_statistic", feature="mean area", statistic="ks")] > 0.3
    assert series[key("explainops_explanation_drift")] == pytest.approx(stats["explanation_drift"])
    shares = [v for (name, labels), v in series.items() if name == "explainops_explanation_attribution_share"
              and ("sample", "reference") in labels]
    assert sum(shares) == pytest.approx(1.0) and len(shares) == len(names)
    # Bounded label values: one series per feature of the model, nothing per request or per row.
    assert sum(name == "explainops_input_drift_drifted" for name, _ in series) == len(names)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_monitoring_is_token_guarded_and_can_be_turned_off(run_server, small_model):
    guarded = run_server(small_model, auth_token="t0k3n")
    assert httpx.get(f"{guarded.url}/v1/models/{MODEL}/monitoring", timeout=30).status_code == 401
    ok = httpx.get(f"{guarded.url}/v1/models/{MODEL}/monitoring", headers={"Authorization": "Bearer t0k3n"}, timeout=30)
    assert ok.status_code == 200 and ok.json()["model_version"] == "v1"
    # Drift and label delay describe the model's data: guarded like /monitoring. Store size is public.
    public = httpx.get(f"{guarded.url}/metrics", timeout=30).text
    full = httpx.get(f"{guarded.url}/metrics", headers={"Authorization": "Bearer t0k3n"}, timeout=30).text
    assert "explainops_store_rows" in public and "explainops_store_rows" in full
    for name in ("explainops_input_drift_share", "explainops_explanation_drift", "explainops_label_delay_seconds"):
        assert name not in public and f"# HELP {name}" in full

    off = run_server(small_model, monitor_interval=0)
    doc = httpx.get(f"{off.url}/v1/models/{MODEL}/monitoring", timeout=30).json()
    assert doc["status"] == "disabled" and off.dataplane.monitor is None
    stats = httpx.get(f"{off.url}/v1/models/{MODEL}/feedback/stats", timeout=30).json()
    assert stats["input_drift"] is None and stats["explanation_drift"] is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_explanation_drift_is_reported_unavailable_without_attributions(run_server, small_model, tmp_path):
    """A linear model served with Anchors: no SHAP explainer, and TreeShap does not apply."""
    from sklearn.linear_model import LogisticRegression

    from explainops_server.models.artifact import load_artifact, write_artifact

    tree = load_artifact(str(small_model.version_dir))
    rows, _ = small_model.holdout, None
    labels = tree.estimator.predict(rows)
    linear_dir = tmp_path / "linear" / "v1"
    write_artifact(
        linear_dir,
        estimator=LogisticRegression(max_iter=2000).fit(rows, labels),
        name=MODEL,
        version="v1",
        feature_names=tree.metadata.feature_names,
        class_names=tree.metadata.class_names,
        background=tree.background,
    )
    model = type(small_model)(linear_dir, small_model.holdout, small_model.holdout_labels, small_model.feature_names)
    server = run_server(model, explainer="anchor_tabular", monitor_interval=0.3, monitor_window=100, monitor_min_rows=50)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        doc = wait_for_cycle(http, predict(http, small_model.holdout[:100]))
    assert doc["status"] == "ok" and doc["input_drift"] is not None
    assert doc["explanation_drift"] is None and "attributions" in doc["note"]
