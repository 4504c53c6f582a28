"""Abuse and HTTP conventions: extreme values, oversized explanations, wrong methods and content types,
the token on every route with `auth_scope=all`, and docs that need no network."""

from __future__ import annotations

import re
import shutil

import httpx
import joblib
import numpy as np
import pytest

from explainops_server.models.artifact import load_artifact

from .conftest import MODEL

PREDICT = f"/v1/models/{MODEL}:predict"
EXPLAIN = f"/v1/models/{MODEL}:explain"
INFER = f"/v2/models/{MODEL}/infer"
FEEDBACK = f"/v1/models/{MODEL}/feedback"
BATCH = f"/v1/models/{MODEL}/feedback:batch"


@pytest.fixture(scope="module")
def scaled_logistic(small_model, tmp_path_factory):
    """StandardScaler + LogisticRegression, the pipeline that overflowed on 1e308 (joblib, trusted)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    version_dir = tmp_path_factory.mktemp("pipeline") / "v1"
    shutil.copytree(small_model.version_dir, version_dir)
    (version_dir / "model.skops").unlink()
    data = load_breast_cancer()
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(data.data, data.target),
                version_dir / "model.joblib")
    metadata = (version_dir / "metadata.json").read_text()
    (version_dir / "metadata.json").write_text(
        metadata.replace('"format": "skops"', '"format": "joblib"').replace("model.skops", "model.joblib")
    )
    assert load_artifact(str(version_dir), trust_pickle=True).estimator is not None
    return version_dir


@pytest.mark.parametrize("value", [1e308, -1e308])
def test_huge_finite_values_are_a_named_422_on_predict_and_explain(run_server, small_model, scaled_logistic,
                                                                   value):
    model = type(small_model)(scaled_logistic, small_model.holdout, small_model.holdout_labels,
                              small_model.feature_names)
    server = run_server(model, trust_pickle=True, explainer="kernel_shap",
                        explainer_params={"nsamples": 50, "background_size": 5})
    good = small_model.holdout[:1].tolist()
    extreme = [list(good[0])]
    extreme[0][4] = value  # mean smoothness: its scale is ~0.014, so value / scale overflows
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for path in (PREDICT, EXPLAIN):
            response = http.post(path, json={"instances": [good[0], extreme[0]]})
            assert response.status_code == 422, (path, response.text)
            assert response.json()["error"] == "invalid_input"
            assert "instances[1]" in response.json()["detail"], response.text
            assert "range" in response.json()["detail"]
        infer = http.post(INFER, json={"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64",
                                                   "data": extreme[0]}]})
        assert infer.status_code == 422 and "instances[0]" in infer.json()["detail"], infer.text
        assert http.post(PREDICT, json={"instances": good}).status_code == 200
        assert http.post(EXPLAIN, json={"instances": good}).status_code == 200


def test_explanation_rows_are_bounded_and_the_limit_is_named(run_server, small_model):
    server = run_server(small_model, max_explain_rows=3)
    rows = np.repeat(small_model.holdout[:1], 4, axis=0).tolist()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        refused = http.post(EXPLAIN, json={"instances": rows})
        assert refused.status_code == 422, refused.text
        assert "at most 3 rows" in refused.json()["detail"] and "max_explain_rows" in refused.json()["detail"]
        assert http.post(EXPLAIN, json={"instances": rows[:3]}).status_code == 200
        assert http.post(PREDICT, json={"instances": rows}).status_code == 200  # predict has its own bound
        metrics = http.get("/metrics").text
    assert 'explainops_explain_refusals_total{reason="too_many_rows"} 1.0' in metrics


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", PREDICT, "POST"),
        ("GET", EXPLAIN, "POST"),
        ("PUT", FEEDBACK, "POST"),
        ("DELETE", BATCH, "POST"),
        ("GET", INFER, "POST"),
        ("POST", f"/v1/models/{MODEL}/feedback/stats", "GET"),
        ("POST", "/v2/health/live", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow(client, method, path, allowed):
    response = client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.json()["error"] == "method_not_allowed"
    assert allowed in response.headers["allow"]


@pytest.mark.parametrize("path", [PREDICT, EXPLAIN, INFER, FEEDBACK, BATCH])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json"])
def test_wrong_content_type_is_415_on_every_route(server, path, content_type):
    body = b'{"instances": [[1.0]], "prediction_id": "p", "label": 1, "records": []}'
    with httpx.Client(base_url=server.url, timeout=30) as http:
        fast = http.post(path, content=body, headers={"content-type": content_type})
        hot = server.app.hot_routes
        server.app.hot_routes = None  # the same request through FastAPI's router
        try:
            routed = http.post(path, content=body, headers={"content-type": content_type})
        finally:
            server.app.hot_routes = hot
    for response in (fast, routed):
        assert response.status_code == 415, response.text
        assert response.json()["error"] == "unsupported_media_type"
        assert content_type in response.json()["detail"] and "application/json" in response.json()["detail"]


def test_json_variants_and_binary_v2_are_accepted(client, small_model):
    row = small_model.holdout[:1].tolist()
    assert client.post(PREDICT, json={"instances": row},
                       headers={"content-type": "application/json; charset=utf-8"}).status_code == 200
    binary = client.post(PREDICT, content=b"{}", headers={"content-type": "application/octet-stream"})
    assert binary.status_code == 415  # octet-stream is for V2 binary tensors only
    import struct

    values = small_model.holdout[0].astype("<f8").tobytes()
    header = (
        '{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "parameters": {"binary_data_size": '
        f"{len(values)}}}}}]}}"
    ).encode()
    response = client.post(INFER, content=header + values, headers={
        "content-type": "application/octet-stream", "inference-header-content-length": str(len(header))})
    assert response.status_code == 200, response.text
    assert struct.calcsize("<d") == 8


def test_auth_scope_all_guards_inference_too(run_server, small_model):
    server = run_server(small_model, auth_token="tok", auth_scope="all")
    row = small_model.holdout[:1].tolist()
    good = {"authorization": "Bearer tok"}
    calls = [
        ("POST", PREDICT, {"instances": row}),
        ("POST", EXPLAIN, {"instances": row}),
        ("POST", INFER, {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": row[0]}]}),
        ("GET", f"/v1/models/{MODEL}/explanations/ale", None),
        ("GET", f"/v2/models/{MODEL}", None),
        ("GET", f"/v1/models/{MODEL}", None),
        ("GET", "/v1/models", None),
    ]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for method, path, body in calls:
            refused = http.request(method, path, json=body)
            assert refused.status_code == 401, (path, refused.text)
            assert refused.headers["www-authenticate"] == "Bearer"
            allowed = http.request(method, path, json=body, headers=good)
            assert allowed.status_code == 200, (path, allowed.text)
        for probe in ("/v2/health/live", "/v2/health/ready", "/"):  # kubelet probes carry no token
            assert http.get(probe).status_code == 200
        document = http.get("/openapi.json").json()
    assert document["paths"]["/v1/models/{name}:predict"]["post"]["security"] == [{"HTTPBearer": []}]


def test_auth_scope_feedback_leaves_inference_open(run_server, small_model):
    server = run_server(small_model, auth_token="tok")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.post(PREDICT, json={"instances": small_model.holdout[:1].tolist()}).status_code == 200
        document = http.get("/openapi.json").json()
    assert "security" not in document["paths"]["/v1/models/{name}:predict"]["post"]
    assert document["paths"]["/v1/models/{name}/feedback"]["post"]["security"] == [{"HTTPBearer": []}]


def test_docs_load_nothing_from_the_network(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(
        r"""url:\s*["']([^"']+)["']""", page.text
    )
    assert urls, page.text
    assert not [u for u in urls if "//" in u], urls  # every asset from this server
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
