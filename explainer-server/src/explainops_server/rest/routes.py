"""Routes: HTTP only. Each parses, calls the data plane and answers with a contract document.

`BODY_OPERATIONS` is the one table of the request-heavy POST routes. `build_router` registers them
(so `/openapi.json` documents them) and `hot_routes` serves the same table, same handlers and same
models without FastAPI's router. Every other route is registered here too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from explainops_server.errors import InvalidInput, MalformedRequest, Unauthorized
from explainops_server.rest.auth import authorise, bearer_scheme, check_bearer
from explainops_server.rest.openapi import ERROR_RESPONSES, V2_REQUEST, request_body
from explainops_server.rest.responses import JsonResponse, model_response
from explainops_server.rest.v2_codec import InferRequest, OutputTensor, parse_request, render_response
from explainops_server.service.audit import audit_lines, check_range, parse_time
from explainops_server.service.contract import (
    AleResponse,
    ExplainResponse,
    FeedbackAck,
    FeedbackBatchAck,
    FeedbackBatchIn,
    FeedbackIn,
    ModelList,
    ModelReadiness,
    MonitoringOut,
    PredictionListing,
    PredictRequest,
    PredictResponse,
    StatsOut,
)
from explainops_server.service.dataplane import DataPlane
from explainops_server.settings import ServerSettings

INFERENCE_HEADER_LENGTH = "inference-header-content-length"
V2_OUTPUTS = {"predict": "INT64", "probabilities": "FP64"}  # V2 infer's output tensors and their datatypes
AUTHORISED = [Depends(bearer_scheme), Depends(check_bearer)]


class ModelNameConvertor(Convertor[str]):
    """A model name is one path segment without ':' (KServe names are DNS labels), so that
    `GET /v1/models/x:predict` is the POST route with the wrong method (405), not a model `x:predict`."""

    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def plane(request: Request) -> DataPlane:
    return request.app.state.dataplane


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise MalformedRequest("request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:  # NaN and Infinity are not JSON, but clients send them: parse, then refuse by name
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest(f"request body is not valid JSON: {exc}") from None


def v1_instances(payload: Any) -> Any:
    if not isinstance(payload, dict):
        raise InvalidInput(f"body: expected a JSON object with 'instances', got {type(payload).__name__}")
    if "instances" not in payload:
        raise InvalidInput("instances: field required")
    return payload["instances"]


# ---- the request-heavy POST operations -------------------------------------------------------------
Handle = Callable[[DataPlane, str, bytes, str], Awaitable[Response]]


async def predict(dp: DataPlane, name: str, body: bytes, request_id: str) -> Response:
    dp.check_model(name)
    rows = dp.validate(v1_instances(parse_json(body)))
    result = dp.predict(rows, request_id)
    return model_response(
        PredictResponse(
            predictions=result.labels.tolist(),
            probabilities=result.probabilities.tolist(),
            prediction_ids=result.prediction_ids,
            model_version=result.model_version,
        )
    )


async def explain(dp: DataPlane, name: str, body: bytes, request_id: str) -> Response:
    dp.check_model(name)
    rows = dp.validate_explain(v1_instances(parse_json(body)))
    result = await dp.explain(rows, request_id)
    return model_response(
        ExplainResponse(
            explanations=result.explanations,
            prediction_ids=result.prediction_ids,
            model_version=result.model_version,
            explainer=result.explainer,
            cached=result.cached,
        )
    )


async def feedback(dp: DataPlane, name: str, body: bytes, request_id: str) -> Response:
    """Returns once the record is committed."""
    item = FeedbackIn.model_validate_json(body)
    dp.check_model(name)
    (outcome,) = await dp.add_feedback([item], batch=False)
    return model_response(FeedbackAck.of(outcome), status=201 if outcome.status == "created" else 200)


async def feedback_batch(dp: DataPlane, name: str, body: bytes, request_id: str) -> Response:
    """All or nothing; returns once committed."""
    batch = FeedbackBatchIn.model_validate_json(body)
    dp.check_model(name)
    outcomes = await dp.add_feedback(list(batch.records), batch=True)
    created = sum(o.status == "created" for o in outcomes)
    return model_response(
        FeedbackBatchAck.model_construct(
            results=[FeedbackAck.of(o) for o in outcomes], created=created, duplicates=len(outcomes) - created
        )
    )


@dataclass(frozen=True)
class BodyOperation:
    suffix: str  # after /v1/models/{name}
    request: type[BaseModel]
    response: type[BaseModel]
    handle: Handle
    guarded_in: frozenset[str]  # the auth scopes in which the bearer token guards it
    tag: str
    summary: str
    status_code: int = 200

    @property
    def path(self) -> str:
        return "/v1/models/{name:model}" + self.suffix

    def guarded(self, settings: ServerSettings) -> bool:
        return settings.auth_scope in self.guarded_in


FEEDBACK_SCOPES = frozenset({"feedback", "all"})
ALL_SCOPE = frozenset({"all"})

# Longest suffix first: "/feedback:batch" must not be read as a model named "x/feedback".
BODY_OPERATIONS: tuple[BodyOperation, ...] = (
    BodyOperation(
        "/feedback:batch", FeedbackBatchIn, FeedbackBatchAck, feedback_batch, FEEDBACK_SCOPES, "feedback",
        "Feedback records, all or nothing",
    ),
    BodyOperation(
        "/feedback", FeedbackIn, FeedbackAck, feedback, FEEDBACK_SCOPES, "feedback",
        "One feedback record (201 created, 200 duplicate)", status_code=201,
    ),
    BodyOperation(":predict", PredictRequest, PredictResponse, predict, ALL_SCOPE, "inference", "KServe V1 predict"),
    BodyOperation(
        ":explain", PredictRequest, ExplainResponse, explain, ALL_SCOPE, "explain",
        "Explain rows (each is also a recorded prediction)",
    ),
)


def _endpoint(operation: BodyOperation) -> Callable[..., Awaitable[Response]]:
    async def endpoint(name: str, request: Request) -> Response:
        return await operation.handle(plane(request), name, await request.body(), request.state.request_id)

    return endpoint


# ---- V2 --------------------------------------------------------------------------------------------
def _check_numbers(data: Any, field: str) -> None:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise InvalidInput(f"{field}: expected numbers, got {type(item).__name__} {item!r:.40}")


def _v2_rows(dp: DataPlane, body: bytes, headers: Any, name: str) -> tuple[InferRequest, np.ndarray]:
    if not body.strip():
        raise MalformedRequest("request body is empty; expected an inference request")
    header_length = headers.get(INFERENCE_HEADER_LENGTH)
    try:
        json_length = int(header_length) if header_length is not None else len(body)
    except ValueError:
        raise InvalidInput(f"{INFERENCE_HEADER_LENGTH}: not an integer") from None
    infer_request = parse_request(body, json_length)
    infer_request.check_outputs(list(V2_OUTPUTS))
    if len(infer_request.inputs) != 1:
        raise InvalidInput(f"inputs: expected exactly one input tensor, got {len(infer_request.inputs)}")
    tensor = infer_request.inputs[0]
    if tensor.datatype not in ("FP64", "FP32", "INT64", "INT32", "FP16", "INT16", "INT8", "UINT8"):
        raise InvalidInput(f"inputs[0].datatype: numeric tensor required, got {tensor.datatype!r}")
    if tensor.data is not None:
        _check_numbers(tensor.data, "inputs[0].data")
    array = tensor.as_numpy("inputs[0]")
    return infer_request, dp.validate(array, field="inputs[0]")


async def v2_infer(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    infer_request, rows = _v2_rows(dp, await request.body(), request.headers, name)
    result = dp.predict(rows, request.state.request_id)
    content, json_length = render_response(
        infer_request,
        response_id=infer_request.id or request.state.request_id,
        model_name=name,
        model_version=result.model_version,
        outputs=[
            OutputTensor("predict", V2_OUTPUTS["predict"], result.labels.astype(np.int64)),
            OutputTensor("probabilities", V2_OUTPUTS["probabilities"], result.probabilities),
        ],
        parameters={"prediction_ids": result.prediction_ids},
    )
    if json_length is None:
        return JsonResponse(content)
    return Response(
        content, media_type="application/octet-stream", headers={INFERENCE_HEADER_LENGTH: str(json_length)}
    )


# ---- health, metadata, stats, listing, metrics ------------------------------------------------------
async def root() -> dict[str, str]:
    return {"status": "alive"}


async def live() -> dict[str, bool]:
    return {"live": True}


async def ready(request: Request) -> Response:
    is_ready = await plane(request).serving_ready()
    return JsonResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


async def server_metadata() -> dict[str, Any]:
    from explainops_server import __version__

    return {"name": "explainops-server", "version": __version__, "extensions": ["explainops-feedback"]}


async def list_models(request: Request) -> Response:
    return model_response(ModelList(models=[plane(request).model.name]))


async def model_ready(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    is_ready = await dp.serving_ready()
    return model_response(ModelReadiness(name=name, ready=is_ready), status=200 if is_ready else 503)


async def v2_model_metadata(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    return JsonResponse(dp.metadata())


async def ale(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    return model_response(await dp.ale())


async def feedback_stats(
    name: str, request: Request, window: int = Query(default=100, ge=1, le=1_000_000)
) -> Response:
    dp = plane(request)
    dp.check_model(name)
    dp.require_explainer_role("feedback stats")
    return model_response(await run_in_threadpool(dp.stats, window))


async def predictions(name: str, request: Request, limit: int = Query(default=50, ge=1, le=1000)) -> Response:
    dp = plane(request)
    dp.check_model(name)
    dp.require_explainer_role("prediction listing")
    return model_response(await run_in_threadpool(dp.recent_predictions, limit))


async def monitoring(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    return model_response(dp.monitoring())


async def audit(
    name: str,
    request: Request,
    since: str | None = Query(default=None, description="Unix seconds or ISO 8601; inclusive"),
    until: str | None = Query(default=None, description="Unix seconds or ISO 8601; exclusive"),
) -> Response:
    dp = plane(request)
    dp.check_model(name)
    dp.require_explainer_role("audit export")
    assert dp.store is not None and dp.recorder is not None
    low, high = parse_time(since, "since"), parse_time(until, "until")
    check_range(low, high)  # before streaming starts: a bad range is a 422, not a broken stream
    await run_in_threadpool(dp.recorder.flush)
    return StreamingResponse(audit_lines(dp.store, name, low, high), media_type="application/x-ndjson")


async def metrics(request: Request) -> Response:
    """Public series always; the feedback figures only to a caller with the token (or with auth off)."""
    dp = plane(request)
    text = generate_latest(dp.metrics.registry)
    try:
        authorise(request.app.state.settings.auth_token, request.headers.get("authorization", ""))
    except Unauthorized:
        return Response(text, media_type=CONTENT_TYPE_LATEST)
    if dp.records:
        text += await run_in_threadpool(generate_latest, dp.metrics.guarded_registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


def build_router(settings: ServerSettings) -> APIRouter:
    """Every route, with the token on the ones `settings.auth_scope` guards."""
    register_url_convertor("model", ModelNameConvertor())
    inference_auth = AUTHORISED if settings.auth_scope == "all" else []
    router = APIRouter(responses=ERROR_RESPONSES)

    def get(path: str, endpoint: Callable[..., Any], tag: str, **kwargs: Any) -> None:
        router.add_api_route(path, endpoint, methods=["GET"], tags=[tag], **kwargs)

    get("/", root, "health", summary="KServe V1 liveness")
    get("/v2/health/live", live, "health")
    get("/v2/health/ready", ready, "health")
    get("/v2", server_metadata, "metadata")
    get("/v1/models", list_models, "metadata", response_model=ModelList, dependencies=inference_auth)
    get(
        "/v1/models/{name:model}", model_ready, "metadata", summary="KServe V1 model readiness",
        response_model=ModelReadiness, dependencies=inference_auth,
    )
    get("/v2/models/{name:model}", v2_model_metadata, "metadata", dependencies=inference_auth)
    get("/v2/models/{name:model}/ready", model_ready, "metadata", response_model=ModelReadiness,
        dependencies=inference_auth)
    for operation in BODY_OPERATIONS:
        router.add_api_route(
            operation.path,
            _endpoint(operation),
            methods=["POST"],
            tags=[operation.tag],
            summary=operation.summary,
            response_model=operation.response,
            status_code=operation.status_code,
            dependencies=AUTHORISED if operation.guarded(settings) else [],
            openapi_extra={"requestBody": request_body(operation.request)},
            name=operation.handle.__name__,
        )
    router.add_api_route(
        "/v2/models/{name:model}/infer", v2_infer, methods=["POST"], tags=["inference"],
        dependencies=inference_auth, openapi_extra={"requestBody": V2_REQUEST},
    )
    get("/v1/models/{name:model}/explanations/ale", ale, "explain", summary="Global ALE explanation",
        response_model=AleResponse, dependencies=inference_auth)
    get("/v1/models/{name:model}/feedback/stats", feedback_stats, "feedback", response_model=StatsOut,
        dependencies=AUTHORISED)
    get("/v1/models/{name:model}/predictions", predictions, "feedback", response_model=PredictionListing,
        dependencies=AUTHORISED)
    get("/v1/models/{name:model}/monitoring", monitoring, "monitoring",
        summary="Input and explanation drift of the served version", response_model=MonitoringOut,
        dependencies=AUTHORISED)
    get(
        "/v1/models/{name:model}/audit", audit, "monitoring",
        summary="Audit export: one JSON line per prediction with its explanation and feedback",
        response_class=StreamingResponse, responses={200: {"content": {"application/x-ndjson": {}}}},
        dependencies=AUTHORISED,
    )
    get(
        "/metrics", metrics, "metrics", response_class=PlainTextResponse,
        summary="Prometheus: public series; with the bearer token also the feedback figures",
    )
    return router
