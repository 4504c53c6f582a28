"""KServe V1 and V2 through kserve's own InferenceRESTClient, plus metadata, health and metrics routes."""

from __future__ import annotations

import asyncio

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

from explainops_server.models.artifact import load_artifact
from explainops_server.rest.app import console_directory

from .conftest import MODEL


def expected_proba(model) -> np.ndarray:
    return load_artifact(str(model.version_dir)).estimator.predict_proba(model.holdout[:3])


def test_v1_predict_with_kserve_client(server, small_model):
    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v1", timeout=30))
        try:
            live = await client.is_server_live(server.url)
            ready = await client.is_model_ready(server.url, MODEL)
            result = await client.infer(
                server.url, {"instances": small_model.holdout[:3].tolist()}, model_name=MODEL
            )
            return live, ready, result
        finally:
            await client.close()

    live, ready, result = asyncio.run(run())
    assert live is True and ready is True
    proba = expected_proba(small_model)
    assert result["predictions"] == np.argmax(proba, axis=1).tolist()
    np.testing.assert_allclose(result["probabilities"], proba)
    assert len(set(result["prediction_ids"])) == 3
    assert result["model_version"] == "v1"


def test_v2_infer_with_kserve_client_json_and_binary(server, small_model):
    rows = small_model.holdout[:3]

    async def run(binary: bool):
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
        try:
            tensor = InferInput("input-0", list(rows.shape), "FP64")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            live = await client.is_server_live(server.url)
            ready = await client.is_server_ready(server.url)
            model_ready = await client.is_model_ready(server.url, MODEL)
            response = await client.infer(server.url, InferRequest(MODEL, [tensor]), model_name=MODEL)
            return live, ready, model_ready, response
        finally:
            await client.close()

    proba = expected_proba(small_model)
    for binary in (False, True):
        live, ready, model_ready, response = asyncio.run(run(binary))
        assert (live, ready, model_ready) == (True, True, True)
        outputs = {o.name: o.as_numpy() for o in response.outputs}
        assert outputs["predict"].tolist() == np.argmax(proba, axis=1).tolist()
        np.testing.assert_allclose(outputs["probabilities"], proba)
        assert len(response.parameters["prediction_ids"]) == 3
        assert response.model_name == MODEL


def test_v2_binary_outputs_when_requested(client, small_model):
    body = {
        "inputs": [
            {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": small_model.holdout[0].tolist()}
        ],
        "parameters": {"binary_data_output": True},
    }
    response = client.post(f"/v2/models/{MODEL}/infer", json=body)
    assert response.status_code == 200
    json_length = int(response.headers["inference-header-content-length"])
    from kserve import InferResponse

    parsed = InferResponse.from_bytes(response.content, json_length)
    assert parsed.get_output_by_name("predict").as_numpy().shape == (1,)


def test_explain_with_kserve_client(server, small_model):
    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v1", timeout=30))
        try:
            return await client.explain(server.url, MODEL, {"instances": small_model.holdout[:1].tolist()})
        finally:
            await client.close()

    result = asyncio.run(run())
    assert result["explainer"] == "tree_shap"
    assert len(result["prediction_ids"]) == 1 and result["model_version"] == "v1"


def test_request_id_is_honoured_and_recorded(client, small_model):
    response = client.post(
        f"/v1/models/{MODEL}:predict",
        json={"instances": small_model.holdout[:1].tolist()},
        headers={"x-request-id": "req-123"},
    )
    assert response.headers["x-request-id"] == "req-123"
    prediction_id = response.json()["prediction_ids"][0]
    listing = client.get(f"/v1/models/{MODEL}/predictions", params={"limit": 10}).json()
    recorded = {p["prediction_id"]: p for p in listing["predictions"]}
    assert recorded[prediction_id]["request_id"] == "req-123"
    assert recorded[prediction_id]["inputs"] == small_model.holdout[0].tolist()
    assert client.get("/v2/health/live").headers["x-request-id"]  # assigned when absent


def test_metadata_health_docs_metrics(client, small_model):
    meta = client.get(f"/v2/models/{MODEL}").json()
    assert meta["name"] == MODEL and meta["versions"] == ["v1"]
    assert meta["parameters"]["feature_names"] == small_model.feature_names
    assert client.get(f"/v2/models/{MODEL}/ready").json() == {"name": MODEL, "ready": True}
    assert client.get(f"/v1/models/{MODEL}").json() == {"name": MODEL, "ready": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for route in (
        "/v1/models/{name}:predict",
        "/v1/models/{name}:explain",
        "/v2/models/{name}/infer",
        "/v1/models/{name}/feedback",
        "/v1/models/{name}/feedback:batch",
        "/v1/models/{name}/feedback/stats",
        "/v1/models/{name}/predictions",
        "/v1/models/{name}/explanations/ale",
        "/v1/models/{name}/monitoring",
        "/v1/models/{name}/audit",
    ):
        assert route in paths
    # A timed-out explanation is documented as what it is: a 503 with Retry-After, not a 504.
    explain_responses = paths["/v1/models/{name}:explain"]["post"]["responses"]
    assert "504" not in explain_responses and "explanation_timeout" in explain_responses["503"]["description"]
    assert "Retry-After" in explain_responses["503"]["headers"]
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    monitoring_fields = {"labelled_share", "label_delay_mean_seconds", "label_delay_max_seconds", "input_drift",
                         "explanation_drift"}
    assert monitoring_fields <= set(schemas["VersionStatsOut"]["required"])
    assert {"input_drift", "explanation_drift", "store"} <= set(schemas["MonitoringOut"]["required"])
    if console_directory() is not None:
        console = client.get("/console/")
        assert console.status_code == 200 and "text/html" in console.headers["content-type"]
    client.post(f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:2].tolist()})
    metrics = client.get("/metrics").text
    assert f'explainops_predictions_total{{model="{MODEL}",model_version="v1"}} 2.0' in metrics
