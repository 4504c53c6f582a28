"""The request-heavy routes are served by `rest.hot_routes`, bypassing FastAPI's router. Every answer
must equal the declared route's answer (status, error kind, the named field, headers that matter)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import MODEL


@pytest.fixture
def guarded(run_server, small_model, tmp_path):
    server = run_server(small_model, auth_token="s3cret", record_flush_ms=10_000)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield server, http


def _answer(response: httpx.Response) -> tuple:
    body = response.json()
    shape = tuple(sorted(body)) if isinstance(body, dict) else type(body).__name__
    kind = body.get("error") if isinstance(body, dict) else None
    detail = body.get("detail") if isinstance(body, dict) else None
    return response.status_code, shape, kind, detail, response.headers.get("www-authenticate")


def test_hot_routes_answer_like_the_declared_routes(guarded, small_model):
    server, http = guarded
    good = {"authorization": "Bearer s3cret", "x-request-id": "req-hot"}
    row = small_model.holdout[:1].tolist()
    pid = http.post(f"/v1/models/{MODEL}:predict", json={"instances": row}).json()["prediction_ids"][0]
    predict = f"/v1/models/{MODEL}:predict"
    feedback = f"/v1/models/{MODEL}/feedback"
    batch = f"/v1/models/{MODEL}/feedback:batch"
    explain = f"/v1/models/{MODEL}:explain"
    cases = [
        (predict, {"instances": row}, {}),
        (predict, {"instances": [[1.0, 2.0]]}, {}),
        (predict, {"rows": row}, {}),
        ("/v1/models/other:predict", {"instances": row}, {}),
        (predict, b"{oops", {}),
        (predict, b"", {}),
        (explain, {"instances": row}, {}),
        (explain, {"instances": [[1.0]]}, {}),
        ("/v1/models/other:explain", {"instances": row}, {}),
        (feedback, {"prediction_id": pid, "label": 1}, {}),
        (feedback, {"prediction_id": pid, "label": 1}, {"authorization": "Bearer wrong"}),
        (feedback, {"prediction_id": pid, "label": 1, "colour": "red"}, good),
        (feedback, {"prediction_id": pid, "explanation_rating": 9}, good),
        (feedback, {"prediction_id": pid, "label": 5}, good),
        (feedback, {"prediction_id": "ghost", "label": 1}, good),
        (feedback, b"{oops", good),
        ("/v1/models/other/feedback", {"prediction_id": pid, "label": 1}, good),
        (
            batch,
            {"records": [{"prediction_id": pid, "label": 1}, {"prediction_id": "x", "correct": "y"}]},
            good,
        ),
        (
            batch,
            {"records": [{"prediction_id": pid, "label": 0}, {"prediction_id": "ghost", "label": 0}]},
            good,
        ),
        (batch, {"records": []}, good),
    ]
    hot_routes = server.app.hot_routes
    for i, (path, body, headers) in enumerate(cases):
        content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
        headers = {"content-type": "application/json", **headers}
        hot = http.post(path, content=content, headers=headers)
        server.app.hot_routes = None  # the same request through FastAPI's router
        try:
            declared = http.post(path, content=content, headers=headers)
        finally:
            server.app.hot_routes = hot_routes
        assert hot.status_code < 500, (i, hot.text)
        if hot.status_code == 200 and path in (predict, explain):
            assert hot.status_code == declared.status_code, i
            assert hot.json().keys() == declared.json().keys(), i
            assert hot.json()["model_version"] == declared.json()["model_version"], i
            continue
        assert _answer(hot) == _answer(declared), (i, hot.text, declared.text)
        assert hot.headers["x-request-id"] and declared.headers["x-request-id"]
    echoed = http.post(predict, json={"instances": row}, headers={"x-request-id": "req-hot"})
    assert echoed.headers["x-request-id"] == "req-hot"


def test_idempotent_feedback_through_the_hot_route(guarded, small_model):
    _, http = guarded
    good = {"authorization": "Bearer s3cret"}
    pid = http.post(
        f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:1].tolist()}
    ).json()["prediction_ids"][0]
    body = {"prediction_id": pid, "feedback_id": "hot-1", "label": 1}
    first = http.post(f"/v1/models/{MODEL}/feedback", json=body, headers=good)
    again = http.post(f"/v1/models/{MODEL}/feedback", json=body, headers=good)
    changed = http.post(f"/v1/models/{MODEL}/feedback", json={**body, "label": 0}, headers=good)
    assert (first.status_code, first.json()["status"]) == (201, "created")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert changed.status_code == 409 and changed.json()["error"] == "feedback_conflict"


def test_the_fast_path_serves_the_declared_operations(guarded):
    server, http = guarded
    assert server.app.hot_routes.match(
        {"type": "http", "method": "POST", "path": f"/v1/models/{MODEL}/feedback", "headers": []}
    )
    form = {"type": "http", "method": "POST", "path": f"/v1/models/{MODEL}/feedback", "headers": []}
    assert server.app.hot_routes.match({**form, "method": "GET"}) is None  # the router answers 405
    assert server.app.hot_routes.match({**form, "path": "/v1/models/a/b:predict"}) is None
    assert server.app.hot_routes.match({**form, "path": "/v1/models/a:b:predict"}) is None
    from explainops_server.rest.routes import BODY_OPERATIONS

    document = http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for operation in BODY_OPERATIONS:  # the table the fast path serves is the one OpenAPI documents
        declared = document["paths"][operation.path.replace("{name:model}", "{name}")]["post"]
        body = declared["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert body == f"#/components/schemas/{operation.request.__name__}"
        assert set(schemas[operation.request.__name__]["properties"]) == set(operation.request.model_fields)
        answer = declared["responses"][str(operation.status_code)]["content"]["application/json"]["schema"]
        assert answer["$ref"].rsplit("/", 1)[1].startswith(operation.response.__name__)
