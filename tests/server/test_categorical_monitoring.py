"""Input drift of a model with a string column: the recorded category strings are compared as the
codes the reference sample holds (the monitor used to stop at the first string)."""

from __future__ import annotations

import time

import httpx
import pytest
from sklearn.ensemble import RandomForestClassifier

import explainops_server
from explainops_server.settings import ServerSettings

from .conftest import ThreadedServer, free_port
from .own_models import binary_target, categorical_pipeline, table


def test_a_categorical_model_gets_input_drift(tmp_path):
    frame = table(seed=0)
    estimator = categorical_pipeline(RandomForestClassifier(10, random_state=0)).fit(frame, binary_target(frame))
    packaged = explainops_server.package(estimator, frame, binary_target(frame), out=tmp_path / "root")
    settings = ServerSettings(
        model_name="quality", model_uri=packaged.uri, http_port=free_port(), data_dir=tmp_path,
        feedback_store=f"sqlite:///{tmp_path / 'feedback.db'}", explainer="kernel_shap",
        explainer_params={"nsamples": 32, "background_size": 10}, record_flush_ms=20,
        monitor_interval=0.2, monitor_window=100, monitor_min_rows=50, monitor_explain_rows=0,
    )  # fmt: skip
    shifted = table(seed=1, rows=120)
    shifted["colour"] = "red"  # every row one category: the colour column drifts
    with ThreadedServer(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        rows = shifted.to_dict(orient="records")
        assert client.post("/v1/models/quality:predict", json={"instances": rows}).status_code == 200
        deadline, doc = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            doc = client.get("/v1/models/quality/monitoring").json()
            if doc["status"] == "ok":
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no drift result within 30 s: {doc}")
    drifted = {f["feature"] for f in doc["input_drift"]["features"] if f["drifted"]}
    assert "colour" in drifted


def test_the_sidecar_split_explains_a_categorical_model(tmp_path):
    """The predictor hands the sidecar the rows as sent (category strings), not its internal codes."""
    frame = table(seed=0)
    estimator = categorical_pipeline(RandomForestClassifier(10, random_state=0)).fit(frame, binary_target(frame))
    packaged = explainops_server.package(estimator, frame, binary_target(frame), out=tmp_path / "root")

    def settings(**overrides) -> ServerSettings:
        return ServerSettings(
            model_name="quality", model_uri=packaged.uri, http_port=free_port(), data_dir=tmp_path,
            explainer="anchor_tabular", explain_cache_size=0, monitor_interval=0, **overrides,
        )  # fmt: skip

    with ThreadedServer(settings(role="explainer")) as sidecar:
        front_settings = settings(role="predictor", explainer_url=sidecar.url,
                                  feedback_store=f"sqlite:///{tmp_path / 'feedback.db'}")  # fmt: skip
        with ThreadedServer(front_settings) as front, httpx.Client(base_url=front.url, timeout=60) as client:
            row = {"size": 0.0, "weight": 0.0, "temperature": 0.0, "colour": "red"}
            explained = client.post("/v1/models/quality:explain", json={"instances": [row]})
    assert explained.status_code == 200, explained.text
    (explanation,) = explained.json()["explanations"]
    assert explanation["predicted_class_name"] == "reject" and "colour = red" in explanation["anchor"]
