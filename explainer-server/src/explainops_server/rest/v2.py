"""KServe V2 inference: one numeric tensor [rows, columns], one BYTES tensor [rows, columns] of text, or
one tensor per column named by feature name (BYTES for categorical columns, numbers otherwise)."""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from explainops_server.errors import InvalidInput, MalformedRequest
from explainops_server.rest.responses import JsonResponse
from explainops_server.rest.v2_codec import (
    InferRequest,
    InputTensor,
    OutputTensor,
    parse_request,
    render_response,
)
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


def _v2_rows(dp: DataPlane, body: bytes, headers: Any, name: str) -> tuple[InferRequest, np.ndarray]:
    if not body.strip():
        raise MalformedRequest("request body is empty; expected an inference request")
    header_length = headers.get(INFERENCE_HEADER_LENGTH)
    try:
        json_length = int(header_length) if header_length is not None else len(body)
    except ValueError:
        raise InvalidInput(f"{INFERENCE_HEADER_LENGTH}: not an integer") from None
    infer_request = parse_request(body, json_length)
    infer_request.check_outputs(["predict"] if dp.model.is_regression else ["predict", "probabilities"])
    if not infer_request.inputs:
        raise InvalidInput(
            "inputs: at least one input tensor is required ([rows, columns], or one per column)"
        )
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
        return infer_request, dp.validate(
            [[_text(v) for v in row] for row in array.tolist()], field="inputs[0]"
        )
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


def _tensor_array(tensor: InputTensor, field: str) -> np.ndarray:
    return tensor.as_numpy(field)


def _text(value: Any) -> Any:
    """BYTES elements arrive as bytes; the feature schema reads them as text."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


async def v2_infer(name: str, request: Request) -> Response:
    dp: DataPlane = request.app.state.dataplane
    dp.check_model(name)
    infer_request, rows = _v2_rows(dp, await request.body(), request.headers, name)
    result = dp.predict(rows, request.state.request_id)
    if result.values is not None:
        outputs = [OutputTensor("predict", "FP64", result.values.astype(np.float64))]
    else:
        assert result.labels is not None and result.probabilities is not None
        outputs = [
            OutputTensor("predict", "INT64", result.labels.astype(np.int64)),
            OutputTensor("probabilities", "FP64", result.probabilities),
        ]
    content, json_length = render_response(
        infer_request,
        response_id=infer_request.id or request.state.request_id,
        model_name=name,
        model_version=result.model_version,
        outputs=outputs,
        parameters={"prediction_ids": result.prediction_ids},
    )
    if json_length is None:
        return JsonResponse(content)
    return Response(
        content, media_type="application/octet-stream", headers={INFERENCE_HEADER_LENGTH: str(json_length)}
    )
