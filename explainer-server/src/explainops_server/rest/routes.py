"""Routes: HTTP only. Each parses, calls the data plane, and shapes the response."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from kserve.errors import InvalidInput as KserveInvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from explainops_server.errors import InvalidInput, MalformedRequest
from explainops_server.rest.auth import bearer_scheme, check_bearer
from explainops_server.rest.responses import JsonResponse
from explainops_server.rest.schemas import (
    ERROR_RESPONSES,
    V1_REQUEST,
    V2_REQUEST,
    ExplainResponse,
    FeedbackAck,
    FeedbackBatchAck,
    FeedbackBatchIn,
    FeedbackIn,
    PredictResponse,
    StatsOut,
)
from explainops_server.service.dataplane import DataPlane, FeedbackInput

INFERENCE_HEADER_LENGTH = "inference-header-content-length"

router = APIRouter(responses=ERROR_RESPONSES)
authorised = [Depends(bearer_scheme), Depends(check_bearer)]


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


# ---- health and metadata -------------------------------------------------------------------------
@router.get("/", tags=["health"], summary="KServe V1 liveness")
async def root() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/v2/health/live", tags=["health"])
async def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", tags=["health"])
async def ready(request: Request) -> Response:
    is_ready = plane(request).ready
    return JsonResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("/v2", tags=["metadata"])
async def server_metadata() -> dict[str, Any]:
    from explainops_server import __version__

    return {"name": "explainops-server", "version": __version__, "extensions": ["explainops-feedback"]}


@router.get("/v1/models", tags=["metadata"])
async def list_models(request: Request) -> dict[str, list[str]]:
    return {"models": [plane(request).model.name]}


@router.get("/v1/models/{name}", tags=["metadata"], summary="KServe V1 model readiness")
async def v1_model(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    return JsonResponse({"name": name, "ready": dp.ready}, status_code=200 if dp.ready else 503)


@router.get("/v2/models/{name}", tags=["metadata"])
async def v2_model_metadata(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    return JsonResponse(dp.metadata())


@router.get("/v2/models/{name}/ready", tags=["metadata"])
async def v2_model_ready(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    return JsonResponse({"name": name, "ready": dp.ready}, status_code=200 if dp.ready else 503)


# ---- predict -------------------------------------------------------------------------------------
@router.post(
    "/v1/models/{name}:predict",
    tags=["inference"],
    response_model=PredictResponse,
    openapi_extra={"requestBody": V1_REQUEST},
)
async def v1_predict(name: str, request: Request) -> Response:
    return v1_predict_response(plane(request), name, await request.body(), request.state.request_id)


def v1_predict_response(dp: DataPlane, name: str, body: bytes, request_id: str) -> JsonResponse:
    """Shared by the route above and `hot_routes` (which serves it without the router)."""
    dp.check_model(name)
    rows = dp.validate(v1_instances(parse_json(body)))
    result = dp.predict(rows, request_id)
    body: dict[str, Any] = {"predictions": result.predictions}
    if result.probabilities is not None:
        body["probabilities"] = result.probabilities
    body.update(prediction_ids=result.prediction_ids, model_version=result.model_version)
    return JsonResponse(body)


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
    try:
        infer_request = InferRequest.from_bytes(body, json_length, name)
    except KserveInvalidInput as exc:
        if "Unrecognized request format" in str(exc):
            raise MalformedRequest(f"request body is not valid JSON: {exc}") from None
        raise InvalidInput(f"inputs: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"inputs: malformed inference request ({type(exc).__name__}: {exc})") from None
    if not infer_request.inputs:
        raise InvalidInput("inputs: at least one input tensor is required ([rows, columns], or one per column)")
    if len(infer_request.inputs) == 1 and infer_request.inputs[0].datatype != "BYTES":
        tensor = infer_request.inputs[0]
        if tensor.datatype not in NUMERIC_DATATYPES:
            raise InvalidInput(f"inputs[0].datatype: numeric tensor required, got {tensor.datatype!r}")
        if tensor.data is not None and not isinstance(tensor.data, np.ndarray):
            _check_numbers(tensor.data, "inputs[0].data")
        return infer_request, dp.validate(_tensor_array(tensor, "inputs[0]"), field="inputs[0]")
    if len(infer_request.inputs) == 1:  # one BYTES tensor [rows, columns]: values as strings
        array = _tensor_array(infer_request.inputs[0], "inputs[0]")
        if array.ndim != 2:
            raise InvalidInput(f"inputs[0].shape: a single BYTES tensor needs [rows, columns], got {list(array.shape)}")
        return infer_request, dp.validate([[_text(v) for v in row] for row in array.tolist()], field="inputs[0]")
    # One tensor per column, named by feature name: BYTES for categorical columns, numbers otherwise.
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(infer_request.inputs):
        if tensor.datatype not in (*NUMERIC_DATATYPES, "BYTES"):
            raise InvalidInput(f"inputs[{i}].datatype: {tensor.datatype!r} is not supported")
        if tensor.name in columns:
            raise InvalidInput(f"inputs[{i}].name: column {tensor.name!r} given twice")
        array = _tensor_array(tensor, f"inputs[{i}]")
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise InvalidInput(f"inputs[{i}].shape: a column tensor needs [rows] or [rows, 1], got {list(array.shape)}")
        columns[tensor.name] = [_text(v) for v in array.tolist()]
    return infer_request, dp.validate_columns(columns, field="inputs")


NUMERIC_DATATYPES = ("FP64", "FP32", "INT64", "INT32", "FP16", "INT16", "INT8", "UINT8")


def _tensor_array(tensor: Any, field: str) -> np.ndarray:
    try:
        return np.asarray(tensor.as_numpy())
    except (ValueError, TypeError, OverflowError, KserveInvalidInput) as exc:
        raise InvalidInput(f"{field}.data: {exc}") from None


def _text(value: Any) -> Any:
    """BYTES elements arrive as bytes; the schema reads them as text."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


@router.post("/v2/models/{name}/infer", tags=["inference"], openapi_extra={"requestBody": V2_REQUEST})
async def v2_infer(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    infer_request, rows = _v2_rows(dp, await request.body(), request.headers, name)
    result = dp.predict(rows, request.state.request_id)
    if result.values is not None:
        outputs = [InferOutput("predict", [len(rows)], "FP64", data=result.values.astype(np.float64))]
    else:
        assert result.labels is not None and result.probabilities is not None
        outputs = [
            InferOutput("predict", [len(rows)], "INT64", data=result.labels.astype(np.int64)),
            InferOutput("probabilities", list(result.probabilities.shape), "FP64", data=result.probabilities),
        ]
    response = InferResponse(
        response_id=infer_request.id or request.state.request_id,
        model_name=name,
        model_version=result.model_version,
        infer_outputs=outputs,
        parameters={"prediction_ids": result.prediction_ids},
        use_binary_outputs=infer_request.use_binary_outputs,
        requested_outputs=infer_request.request_outputs,
    )
    try:
        content, json_length = response.to_rest()
    except KserveInvalidInput as exc:
        raise InvalidInput(f"outputs: {exc}") from None
    if json_length is None:
        return JsonResponse(content)
    return Response(
        content, media_type="application/octet-stream", headers={INFERENCE_HEADER_LENGTH: str(json_length)}
    )


# ---- explain -------------------------------------------------------------------------------------
@router.post(
    "/v1/models/{name}:explain",
    tags=["explain"],
    response_model=ExplainResponse,
    openapi_extra={"requestBody": V1_REQUEST},
)
async def v1_explain(name: str, request: Request) -> Response:
    return await v1_explain_response(plane(request), name, await request.body(), request.state.request_id)


async def v1_explain_response(dp: DataPlane, name: str, body: bytes, request_id: str) -> JsonResponse:
    """Shared by the route above and `hot_routes`."""
    dp.check_model(name)
    dp.require_explainer_role("explain")
    rows = dp.validate(v1_instances(parse_json(body)))
    result = await dp.explain(rows, request_id)
    return JsonResponse(
        {
            "explanations": result.explanations,
            "prediction_ids": result.prediction_ids,
            "model_version": result.model_version,
            "explainer": result.explainer,
            "cached": result.cached,
        }
    )


@router.get("/v1/models/{name}/explanations/ale", tags=["explain"], summary="Global ALE explanation")
async def ale(name: str, request: Request) -> Response:
    dp = plane(request)
    dp.check_model(name)
    return JsonResponse(await dp.ale())


# ---- feedback ------------------------------------------------------------------------------------
def _feedback_input(item: FeedbackIn) -> FeedbackInput:
    return FeedbackInput(
        prediction_id=item.prediction_id,
        feedback_id=item.feedback_id,
        label=item.label,
        correct=item.correct,
        explanation_rating=item.explanation_rating,
        comment=item.comment,
        source=item.source,
        value=item.value,
    )


@router.post(
    "/v1/models/{name}/feedback",
    tags=["feedback"],
    response_model=FeedbackAck,
    status_code=201,
    dependencies=authorised,
)
async def feedback(name: str, body: FeedbackIn, request: Request) -> Response:
    return await feedback_response(plane(request), name, body)


async def feedback_response(dp: DataPlane, name: str, body: FeedbackIn) -> JsonResponse:
    """Shared by the route above and `hot_routes`; returns once the record is committed."""
    dp.check_model(name)
    (outcome,) = await dp.add_feedback([_feedback_input(body)], batch=False)
    return JsonResponse(
        {
            "feedback_id": outcome.feedback_id,
            "prediction_id": outcome.prediction_id,
            "model_version": outcome.model_version,
            "status": outcome.status,
        },
        status_code=201 if outcome.status == "created" else 200,
    )


@router.post(
    "/v1/models/{name}/feedback:batch",
    tags=["feedback"],
    response_model=FeedbackBatchAck,
    dependencies=authorised,
)
async def feedback_batch(name: str, body: FeedbackBatchIn, request: Request) -> Response:
    return await feedback_batch_response(plane(request), name, body)


async def feedback_batch_response(dp: DataPlane, name: str, body: FeedbackBatchIn) -> JsonResponse:
    """Shared by the route above and `hot_routes`; all or nothing, returns once committed."""
    dp.check_model(name)
    outcomes = await dp.add_feedback([_feedback_input(r) for r in body.records], batch=True)
    results = [
        {
            "feedback_id": o.feedback_id,
            "prediction_id": o.prediction_id,
            "model_version": o.model_version,
            "status": o.status,
        }
        for o in outcomes
    ]
    created = sum(o.status == "created" for o in outcomes)
    return JsonResponse({"results": results, "created": created, "duplicates": len(outcomes) - created})


@router.get(
    "/v1/models/{name}/feedback/stats", tags=["feedback"], response_model=StatsOut, dependencies=authorised
)
async def feedback_stats(
    name: str, request: Request, window: int = Query(default=100, ge=1, le=1_000_000)
) -> Response:
    dp = plane(request)
    dp.check_model(name)
    dp.require_explainer_role("feedback stats")
    return JsonResponse(await run_in_threadpool(dp.stats, window))


@router.get("/v1/models/{name}/predictions", tags=["feedback"], dependencies=authorised)
async def predictions(name: str, request: Request, limit: int = Query(default=50, ge=1, le=1000)) -> Response:
    dp = plane(request)
    dp.check_model(name)
    dp.require_explainer_role("prediction listing")
    return JsonResponse(await run_in_threadpool(dp.recent_predictions, limit))


@router.get("/metrics", tags=["metrics"], response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    registry = plane(request).metrics.registry
    return Response(await run_in_threadpool(generate_latest, registry), media_type=CONTENT_TYPE_LATEST)
