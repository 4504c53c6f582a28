"""KServe V2 inference: one numeric tensor [rows, columns], one BYTES tensor [rows, columns] of text, or
one tensor per column named by feature name (BYTES for categorical columns, numbers otherwise)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from kserve.errors import InvalidInput as KserveInvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from starlette.requests import Request
from starlette.responses import Response

from explainops_server.errors import InvalidInput, MalformedRequest
from explainops_server.rest.responses import JsonResponse
from explainops_server.service.dataplane import DataPlane

INFERENCE_HEADER_LENGTH = "inference-header-content-length"
NUMERIC_DATATYPES = ("FP64", "FP32", "INT64", "INT32", "FP16", "INT16", "INT8", "UINT8")


def _check_numbers(data: Any, field: str) -> None:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, int | float):
            raise InvalidInput(f"{field}: expected numbers, got {type(item).__name__} {item!r:.40}")


def _refuse_non_finite(json_part: bytes) -> None:
    """NaN/Infinity make the body invalid JSON for kserve's parser; name the cell as V1 does."""
    try:
        payload = json.loads(json_part)
    except (ValueError, RecursionError):
        return
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    for i, tensor in enumerate(inputs if isinstance(inputs, list) else []):
        data = tensor.get("data") if isinstance(tensor, dict) else None
        flat, stack = 0, [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack[:0] = item
            else:
                if isinstance(item, float) and not math.isfinite(item):
                    raise InvalidInput(f"inputs[{i}].data[{flat}]: NaN and infinity are not accepted")
                flat += 1


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
            _refuse_non_finite(body[:json_length])
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
    if len(infer_request.inputs) == 1:  # one BYTES tensor [rows, columns]: values as text
        array = _tensor_array(infer_request.inputs[0], "inputs[0]")
        if array.ndim != 2:
            raise InvalidInput(
                f"inputs[0].shape: a single BYTES tensor needs [rows, columns], got {list(array.shape)}"
            )
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
            raise InvalidInput(
                f"inputs[{i}].shape: a column tensor needs [rows] or [rows, 1], got {list(array.shape)}"
            )
        columns[tensor.name] = [_text(v) for v in array.tolist()]
    return infer_request, dp.validate_columns(columns, field="inputs")


def _tensor_array(tensor: Any, field: str) -> np.ndarray:
    try:
        return np.asarray(tensor.as_numpy())
    except (ValueError, TypeError, OverflowError, KserveInvalidInput) as exc:
        raise InvalidInput(f"{field}.data: {exc}") from None


def _text(value: Any) -> Any:
    """BYTES elements arrive as bytes; the feature schema reads them as text."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


async def v2_infer(name: str, request: Request) -> Response:
    dp: DataPlane = request.app.state.dataplane
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
