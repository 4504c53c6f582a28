"""Optional bearer token on feedback, stats, listing; predict and health stay open."""

from __future__ import annotations

import httpx
import pytest

from .conftest import MODEL


@pytest.fixture
def guarded(run_server, small_model, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    server = run_server(small_model, auth_token_file=token_file)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def test_auth_on(guarded, small_model):
    http = guarded
    predicted = http.post(f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:1].tolist()})
    assert predicted.status_code == 200  # inference is not guarded
    assert http.get("/v2/health/live").status_code == 200
    pid = predicted.json()["prediction_ids"][0]
    feedback = {"prediction_id": pid, "label": 1}
    guarded_calls = [
        ("POST", f"/v1/models/{MODEL}/feedback", feedback),
        ("POST", f"/v1/models/{MODEL}/feedback:batch", {"records": [feedback]}),
        ("GET", f"/v1/models/{MODEL}/feedback/stats", None),
        ("GET", f"/v1/models/{MODEL}/predictions", None),
    ]
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret-token"}):
        for method, path, body in guarded_calls:
            response = http.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.json()["error"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
    good = {"authorization": "Bearer s3cret-token"}
    assert http.post(f"/v1/models/{MODEL}/feedback", json=feedback, headers=good).status_code == 201
    assert http.get(f"/v1/models/{MODEL}/feedback/stats", headers=good).json()["labelled_count"] == 1
    assert http.get(f"/v1/models/{MODEL}/predictions", headers=good).status_code == 200


def test_auth_off(client, small_model):
    pid = client.post(
        f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:1].tolist()}
    ).json()["prediction_ids"][0]
    assert (
        client.post(f"/v1/models/{MODEL}/feedback", json={"prediction_id": pid, "label": 0}).status_code
        == 201
    )
    assert client.get(f"/v1/models/{MODEL}/feedback/stats").status_code == 200
    assert client.get(f"/v1/models/{MODEL}/predictions").status_code == 200


def test_openapi_documents_the_bearer_scheme(client):
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
