"""KServe V2 (Open Inference Protocol) REST bodies: JSON tensors and the binary tensor data extension.

Written from the protocol's specification (REST/HTTP and "Binary Tensor Data Extension"): a body is a
JSON object of `inference-header-content-length` bytes, optionally followed by the raw bytes of every
input whose `parameters.binary_data_size` is set, in input order. An output is sent as raw bytes after
the JSON header when its requested `parameters.binary_data` says so, else when the request's
`parameters.binary_data_output` does. Only what a tabular model needs is decoded: numeric tensors, and
BYTES tensors for categorical columns.
kserve's own client is the interoperability check (tests/server/test_protocols.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from explainops_server.errors import InvalidInput, MalformedRequest

# Numeric datatypes of the protocol; raw bytes are little-endian, row-major.
DATATYPES: dict[str, np.dtype] = {
    name: np.dtype(code).newbyteorder("<")
    for name, code in {
        "BOOL": "?", "UINT8": "u1", "UINT16": "u2", "UINT32": "u4", "UINT64": "u8",
        "INT8": "i1", "INT16": "i2", "INT32": "i4", "INT64": "i8",
        "FP16": "f2", "FP32": "f4", "FP64": "f8",
    }.items()
}  # fmt: skip


@dataclass
class InputTensor:
    name: str
    shape: list[int]
    datatype: str
    data: Any = None  # the JSON `data` (flat or nested), or None when sent as raw bytes
    raw: bytes | None = None

    def as_numpy(self, where: str) -> np.ndarray:
        if self.datatype == "BYTES":
            return self._bytes_array(where)
        dtype = DATATYPES.get(self.datatype)
        if dtype is None:
            raise InvalidInput(f"{where}.datatype: unsupported datatype {self.datatype!r}")
        try:
            if self.raw is not None:
                array = np.frombuffer(self.raw, dtype=dtype)
            else:
                array = np.asarray(self.data, dtype=dtype)
            return array.reshape(self.shape)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidInput(f"{where}.data: {exc}") from None


    def _bytes_array(self, where: str) -> np.ndarray:
        """BYTES: JSON strings, or raw elements each prefixed by its 4-byte little-endian length."""
        if self.raw is None:
            values = np.asarray(self.data, dtype=object)
        else:
            items, offset = [], 0
            while offset < len(self.raw):
                if offset + 4 > len(self.raw):
                    raise InvalidInput(f"{where}: binary BYTES data ends inside an element's length")
                size = int.from_bytes(self.raw[offset : offset + 4], "little")
                if offset + 4 + size > len(self.raw):
                    raise InvalidInput(f"{where}: binary BYTES element {len(items)} is cut short")
                items.append(self.raw[offset + 4 : offset + 4 + size])
                offset += 4 + size
            values = np.empty(len(items), dtype=object)
            values[:] = items
        try:
            return values.reshape(self.shape)
        except ValueError as exc:
            raise InvalidInput(f"{where}.data: {exc}") from None


@dataclass
class RequestedOutput:
    name: str
    binary: bool | None  # None: the request's default


@dataclass
class InferRequest:
    id: str | None
    inputs: list[InputTensor]
    outputs: list[RequestedOutput] | None
    binary_outputs: bool

    def check_outputs(self, available: list[str]) -> None:
        """Refuses a requested output the model does not have, before anything is predicted."""
        for wanted in self.outputs or []:
            if wanted.name not in available:
                raise InvalidInput(f"outputs: unknown output {wanted.name!r}; this model has {available}")


@dataclass
class OutputTensor:
    name: str
    datatype: str
    array: np.ndarray


def _refuse_non_finite(json_part: bytes) -> None:
    """NaN/Infinity are not JSON; name the cell the way V1 does instead of 'not JSON'."""
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


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _flag(parameters: dict[str, Any], key: str, where: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(f"{where}.{key}: expected true or false, got {value!r:.40}")
    return value


def _input(item: Any, where: str, body: bytes, offset: int) -> tuple[InputTensor, int]:
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: expected a tensor object, got {type(item).__name__}")
    name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
    if not isinstance(name, str):
        raise InvalidInput(f"{where}.name: required, a string")
    if not isinstance(datatype, str):
        raise InvalidInput(f"{where}.datatype: required, a string such as 'FP64'")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"{where}.shape: required, a list of non-negative integers")
    parameters = _parameters(item.get("parameters"), f"{where}.parameters")
    tensor = InputTensor(name, shape, datatype)
    if item.get("data") is not None:
        if datatype == "FP16":
            raise InvalidInput(f"{where}.data: FP16 is accepted only as binary data")
        tensor.data = item["data"]
        return tensor, offset
    size = parameters.get("binary_data_size")
    if size is None:
        raise InvalidInput(f"{where}: 'data' is missing and no 'binary_data_size' is given")
    if type(size) is not int or size < 0:
        raise InvalidInput(f"{where}.parameters.binary_data_size: expected a non-negative integer")
    if offset + size > len(body):
        raise InvalidInput(
            f"{where}.parameters.binary_data_size: {size} bytes, but only {len(body) - offset} follow"
        )
    tensor.raw = body[offset : offset + size]
    return tensor, offset + size


def parse_request(body: bytes, json_length: int) -> InferRequest:
    """An inference request from its REST body; `json_length` bytes of it are the JSON header."""
    if json_length < 0 or json_length > len(body):
        raise InvalidInput(
            f"inference-header-content-length: {json_length} is outside the body's {len(body)} bytes"
        )
    header = body[:json_length]
    try:
        payload = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        _refuse_non_finite(header)
        raise MalformedRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"request body: expected a JSON object with 'inputs', got {type(payload).__name__}"
        )
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("id: expected a string")
    raw_inputs = payload.get("inputs")
    if not isinstance(raw_inputs, list):
        raise InvalidInput("inputs: required, a list of input tensors")
    inputs, offset = [], json_length
    for i, item in enumerate(raw_inputs):
        tensor, offset = _input(item, f"inputs[{i}]", body, offset)
        inputs.append(tensor)
    parameters = _parameters(payload.get("parameters"), "parameters")
    binary_outputs = bool(_flag(parameters, "binary_data_output", "parameters"))
    outputs = None
    if payload.get("outputs") is not None:
        if not isinstance(payload["outputs"], list):
            raise InvalidInput("outputs: expected a list of requested outputs")
        outputs = []
        for i, item in enumerate(payload["outputs"]):
            where = f"outputs[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InvalidInput(f"{where}: expected an object with a 'name'")
            output_parameters = _parameters(item.get("parameters"), f"{where}.parameters")
            outputs.append(
                RequestedOutput(item["name"], _flag(output_parameters, "binary_data", f"{where}.parameters"))
            )
    return InferRequest(request_id, inputs, outputs, binary_outputs)


def render_response(
    request: InferRequest,
    *,
    response_id: str,
    model_name: str,
    model_version: str,
    outputs: list[OutputTensor],
    parameters: dict[str, Any],
) -> tuple[dict[str, Any] | bytes, int | None]:
    """The response as a JSON document, or as bytes with the length of their JSON header when any
    output goes as binary data."""
    request.check_outputs([o.name for o in outputs])
    by_name = {o.name: o for o in outputs}
    chosen = [(o, request.binary_outputs) for o in outputs]
    if request.outputs is not None:
        chosen = [
            (by_name[w.name], request.binary_outputs if w.binary is None else w.binary)
            for w in request.outputs
        ]
    documents, raw = [], []
    for output, binary in chosen:
        document: dict[str, Any] = {
            "name": output.name,
            "shape": list(output.array.shape),
            "datatype": output.datatype,
        }
        if binary:
            data = np.ascontiguousarray(output.array, dtype=DATATYPES[output.datatype]).tobytes()
            document["parameters"] = {"binary_data_size": len(data)}
            raw.append(data)
        else:
            document["data"] = output.array.ravel()
        documents.append(document)
    response = {
        "id": response_id,
        "model_name": model_name,
        "model_version": model_version,
        "outputs": documents,
        "parameters": parameters,
    }
    if not raw:
        return response, None
    header = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    return b"".join([header, *raw]), len(header)
