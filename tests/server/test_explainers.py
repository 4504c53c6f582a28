"""Each explainer type through the server, the cache, the pool bounds and the recorded explanation."""

from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np
import pytest

from explainops_server.errors import ConfigurationError
from explainops_server.explainers.registry import EXPLAINERS, build_explainer
from explainops_server.models.tabular import TabularModel

from .conftest import MODEL


def explain(http: httpx.Client, rows: np.ndarray) -> httpx.Response:
    return http.post(f"/v1/models/{MODEL}:explain", json={"instances": rows.tolist()})


def test_registry_lists_the_four_explainers_and_refuses_unknown_ones(small_model):
    assert set(EXPLAINERS) == {"anchor_tabular", "kernel_shap", "tree_shap", "ale"}
    model = TabularModel(MODEL, str(small_model.version_dir))
    model.load()
    with pytest.raises(ConfigurationError, match="unknown explainer"):
        build_explainer("lime", model, model.loaded.background)
    with pytest.raises(ConfigurationError, match="does not take parameter"):
        build_explainer("tree_shap", model, model.loaded.background, {"nsamples": 5})


def test_anchor_on_the_real_example_model(run_server, example_model):
    server = run_server(example_model, explainer="anchor_tabular", explain_timeout=120)
    with httpx.Client(base_url=server.url, timeout=180) as http:
        response = explain(http, example_model.holdout[:1])
        assert response.status_code == 200, response.text
        body = response.json()
        (anchor,) = body["explanations"]
        assert body["explainer"] == "anchor_tabular" and body["model_version"] == "v1"
        assert anchor["anchor"], "an anchor names at least one condition"
        assert anchor["precision"] >= 0.95
        assert 0 < anchor["coverage"] <= 1
        prediction_id = body["prediction_ids"][0]

        again = explain(http, example_model.holdout[:1]).json()
        assert again["cached"] == [True] and again["explanations"] == body["explanations"]
        assert again["prediction_ids"][0] != prediction_id  # every answer is a new prediction

        listing = http.get(f"/v1/models/{MODEL}/predictions", params={"limit": 5}).json()["predictions"]
        recorded = next(p for p in listing if p["prediction_id"] == prediction_id)
        assert recorded["explainer"] == "anchor_tabular"
        assert recorded["explanation"]["anchor"] == anchor["anchor"]


def test_kernel_shap_attributions_add_up(run_server, small_model):
    server = run_server(small_model, explainer="kernel_shap", explainer_params={"nsamples": 300})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        body = explain(http, small_model.holdout[:2]).json()
    proba = server.dataplane.model.predict_proba(small_model.holdout[:2])
    for i, exp in enumerate(body["explanations"]):
        assert exp["type"] == "kernel_shap" and len(exp["shap_values"]) == 2
        for cls in range(2):
            total = exp["expected_value"][cls] + sum(exp["shap_values"][cls])
            assert total == pytest.approx(proba[i, cls], abs=1e-6)
        assert len(exp["top_features"]) == 5


def test_tree_shap_is_exact(client, server, small_model):
    body = explain(client, small_model.holdout[:3]).json()
    proba = server.dataplane.model.predict_proba(small_model.holdout[:3])
    assert body["cached"] == [False, False, False]
    for i, exp in enumerate(body["explanations"]):
        total = exp["expected_value"][1] + sum(exp["shap_values"][1])
        assert total == pytest.approx(proba[i, 1], abs=1e-9)
        assert exp["predicted_class"] == int(np.argmax(proba[i]))


def test_ale_is_global_and_on_its_own_route(run_server, small_model):
    server = run_server(small_model, explainer="ale")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        body = http.get(f"/v1/models/{MODEL}/explanations/ale").json()
        local = explain(http, small_model.holdout[:1])
    features = body["explanation"]["features"]
    assert [f["feature"] for f in features] == small_model.feature_names
    assert body["explanation"]["target_names"] == ["malignant", "benign"]
    worst = next(f for f in features if f["feature"] == "worst concave points")
    assert len(worst["ale_values"]) == len(worst["feature_values"]) and len(worst["ale_values"][0]) == 2
    assert local.status_code == 400 and "global" in local.json()["detail"]


def test_ale_route_also_works_with_another_configured_explainer(client):
    response = client.get(f"/v1/models/{MODEL}/explanations/ale")
    assert response.status_code == 200 and response.json()["explanation"]["type"] == "ale"


class GatedExplainer:
    """Wraps the real explainer so a test decides when a computation may finish."""

    def __init__(self, real, gate: threading.Event) -> None:
        self.real, self.gate = real, gate
        self.name, self.config_key, self.summarise = real.name, real.config_key, real.summarise
        self.started = threading.Semaphore(0)

    def explain_row(self, row):
        self.started.release()
        result = self.real.explain_row(row)
        assert self.gate.wait(60)
        return result


def test_full_pool_and_slow_explanation_both_give_503_with_retry_after(run_server, small_model):
    server = run_server(small_model, explain_workers=1, explain_queue=0, explain_timeout=1.0)
    gate = threading.Event()
    gated = GatedExplainer(server.dataplane.explainer, gate)
    server.dataplane.explainer = gated

    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            first = asyncio.create_task(
                http.post(f"/v1/models/{MODEL}:explain", json={"instances": small_model.holdout[:1].tolist()})
            )
            await asyncio.to_thread(gated.started.acquire)  # the only worker is busy now
            second = await http.post(
                f"/v1/models/{MODEL}:explain", json={"instances": small_model.holdout[1:2].tolist()}
            )
            timed_out = await first
            return second, timed_out

    busy, timed_out = asyncio.run(scenario())
    gate.set()
    assert busy.status_code == 503 and busy.json()["error"] == "explainer_busy"
    assert int(busy.headers["retry-after"]) >= 1
    assert timed_out.status_code == 503 and timed_out.json()["error"] == "explanation_timeout"
    assert int(timed_out.headers["retry-after"]) >= 1
    assert "configured limit of 1 s" in timed_out.json()["detail"]
