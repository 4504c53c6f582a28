"""The sidecar split: `serve --role predictor --explainer-url` in front, `serve --role explainer` behind it."""

from __future__ import annotations

import httpx
import pytest

from .conftest import MODEL, free_port


@pytest.fixture
def split(run_server, small_model):
    """An explainer sidecar and the predictor that hands it explanations, as the operator renders them."""
    sidecar = run_server(small_model, role="explainer", explain_cache_size=0)
    front = run_server(small_model, role="predictor", explainer_url=sidecar.url)
    return front, sidecar


def test_explanations_come_from_the_sidecar_and_are_recorded_in_front(split, run_server, small_model, tmp_path):
    front, sidecar = split
    rows = small_model.holdout[:2].tolist()
    with httpx.Client(base_url=front.url, timeout=60) as http:
        answer = http.post(f"/v1/models/{MODEL}:explain", json={"instances": rows})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        ids = body["prediction_ids"]
        assert len(ids) == 2 and body["cached"] == [False, False]
        # The same explanation as a standalone server computes in-process.
        standalone = run_server(small_model, feedback_store=f"sqlite:///{tmp_path / 'standalone.db'}")
        alone = httpx.post(f"{standalone.url}/v1/models/{MODEL}:explain", json={"instances": rows}, timeout=60)
        assert body["explanations"] == alone.json()["explanations"]
        # Recorded in front: feedback on an explained prediction is accepted there.
        feedback = http.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": ids[0], "label": 1})
        assert feedback.status_code == 201, feedback.text
        listing = http.get(f"/v1/models/{MODEL}/predictions").json()["predictions"]
        assert {p["prediction_id"] for p in listing if p.get("explainer") == "tree_shap"} == set(ids)
        # The front caches what the sidecar returned: the second request does not reach the sidecar.
        again = http.post(f"/v1/models/{MODEL}:explain", json={"instances": rows}).json()
        assert again["cached"] == [True, True] and again["explanations"] == body["explanations"]
    assert sidecar.dataplane.metrics.explanations.labels(MODEL, "tree_shap", "false")._value.get() == 2


def test_the_sidecar_records_nothing(split, small_model):
    _, sidecar = split
    with httpx.Client(base_url=sidecar.url, timeout=60) as http:
        answer = http.post(f"/v1/models/{MODEL}:explain", json={"instances": small_model.holdout[:1].tolist()})
        assert answer.status_code == 200 and answer.json()["prediction_ids"] == []
        for method, path in (("POST", f"/v1/models/{MODEL}/feedback"), ("GET", f"/v1/models/{MODEL}/feedback/stats")):
            refused = http.request(method, path, json={"prediction_id": "x", "label": 1} if method == "POST" else None)
            assert refused.status_code == 404 and refused.json()["error"] == "not_supported", path
    assert sidecar.dataplane.store is None


def test_sidecar_errors_reach_the_client_unchanged(run_server, small_model):
    sidecar = run_server(small_model, role="explainer", explainer="ale")
    front = run_server(small_model, role="predictor", explainer="ale", explainer_url=sidecar.url)
    with httpx.Client(base_url=front.url, timeout=60) as http:
        local = http.post(f"/v1/models/{MODEL}:explain", json={"instances": small_model.holdout[:1].tolist()})
        assert local.status_code == 400 and local.json()["error"] == "unsupported_operation"
        assert "global" in local.json()["detail"]
        ale = http.get(f"/v1/models/{MODEL}/explanations/ale")
        assert ale.status_code == 200 and len(ale.json()["explanation"]["features"]) == len(small_model.feature_names)


def test_a_missing_sidecar_is_a_503_and_not_ready_while_predict_still_works(run_server, small_model):
    nobody = f"http://127.0.0.1:{free_port()}"
    front = run_server(small_model, role="predictor", explainer_url=nobody)
    with httpx.Client(base_url=front.url, timeout=60) as http:
        explain = http.post(f"/v1/models/{MODEL}:explain", json={"instances": small_model.holdout[:1].tolist()})
        assert explain.status_code == 503 and explain.json()["error"] == "explainer_unavailable"
        assert int(explain.headers["Retry-After"]) >= 1 and nobody in explain.json()["detail"]
        assert http.get("/v2/health/ready").status_code == 503
        assert http.get(f"/v2/models/{MODEL}/ready").status_code == 503
        assert http.get("/v2/health/live").status_code == 200
        predict = http.post(f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:1].tolist()})
        assert predict.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"role": "predictor"}, "explainer_url"), ({"role": "standalone", "explainer_url": "http://127.0.0.1:1"},
                                                 "explainer_url"),
     ({"role": "predictor", "explainer_url": "https://x/y"}, "explainer_url")],
)
def test_explainer_url_goes_with_the_predictor_role_only(tmp_path, small_model, overrides, message):
    from pydantic import ValidationError

    from .conftest import make_settings

    with pytest.raises(ValidationError, match=message):
        make_settings(small_model, tmp_path, **overrides)


def test_the_predictor_publishes_no_pool_counters_it_does_not_keep(split, small_model):
    """The sidecar's pool does the timing out and refusing: the predictor in front must not publish false
    zeros for it (its explainops_explain_refusals count what the sidecar answered)."""
    front, _ = split
    with httpx.Client(timeout=60) as http:
        http.post(f"{front.url}/v1/models/{MODEL}:explain", json={"instances": small_model.holdout[:1].tolist()})
        front_metrics = http.get(f"{front.url}/metrics").text
    for name in ("explainops_explain_timeouts_total", "explainops_explain_rejections_total",
                 "explainops_explain_cancelled_tasks_total"):
        assert name not in front_metrics
    assert f'explainops_explain_cache_misses_total{{model="{MODEL}"}} 1.0' in front_metrics
