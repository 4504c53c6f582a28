"""The server's own V2 codec against kserve's (the reference, installed only in the dev venv), and the
binary-data and requested-output cases of the protocol's extension through a real server."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from kserve import InferInput, InferRequest, InferResponse
from kserve.protocol.infer_type import RequestedOutput

from explainops_server.errors import InvalidInput, MalformedRequest
from explainops_server.rest.responses import JsonResponse
from explainops_server.rest.v2_codec import OutputTensor, parse_request, render_response

from .conftest import MODEL

INFER = f"/v2/models/{MODEL}/infer"
HEADER = "inference-header-content-length"


def kserve_body(rows: np.ndarray, datatype: str, binary: bool, **kwargs) -> tuple[bytes, int]:
    tensor = InferInput("x", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=binary)
    body, json_length = InferRequest(MODEL, [tensor], **kwargs).to_rest()
    if json_length is None:
        body = json.dumps(body).encode()
        json_length = len(body)
    return body, json_length


@pytest.mark.parametrize(
    ("datatype", "dtype", "binary"),
    [
        (t, d, b)
        for t, d in (("FP64", np.float64), ("FP32", np.float32), ("INT64", np.int64))
        for b in (False, True)
    ]
    + [("FP16", np.float16, True)],  # FP16 travels only as binary data
)
def test_parses_what_kserve_encodes(datatype, dtype, binary):
    rows = (np.arange(12).reshape(3, 4) * 1.5).astype(dtype)
    body, json_length = kserve_body(rows, datatype, binary, request_id="abc")
    request = parse_request(body, json_length)
    assert request.id == "abc" and len(request.inputs) == 1
    decoded = request.inputs[0].as_numpy("inputs[0]")
    assert decoded.dtype == dtype and decoded.shape == (3, 4)
    np.testing.assert_array_equal(decoded, rows)


def test_kserve_reads_what_it_renders_json_and_binary():
    proba = np.array([[0.25, 0.75], [0.5, 0.5]])
    labels = np.array([1, 0], dtype=np.int64)
    outputs = [OutputTensor("predict", "INT64", labels), OutputTensor("probabilities", "FP64", proba)]
    for binary in (False, True):
        body = {"inputs": [], "parameters": {"binary_data_output": binary}}
        request = parse_request(json.dumps(body).encode(), len(json.dumps(body)))
        content, json_length = render_response(
            request, response_id="r1", model_name=MODEL, model_version="v1", outputs=outputs,
            parameters={"prediction_ids": ["a", "b"]},
        )  # fmt: skip
        if binary:
            assert isinstance(content, bytes) and json_length is not None
            parsed = InferResponse.from_bytes(content, json_length)
        else:
            assert json_length is None
            parsed = InferResponse.from_rest(orjson.loads(JsonResponse(content).body))
        header = orjson.loads(content[:json_length] if binary else JsonResponse(content).body)
        assert parsed.id == "r1" and header["model_version"] == "v1"
        assert parsed.parameters["prediction_ids"] == ["a", "b"]
        np.testing.assert_array_equal(parsed.get_output_by_name("predict").as_numpy(), labels)
        np.testing.assert_array_equal(parsed.get_output_by_name("probabilities").as_numpy(), proba)


@pytest.mark.parametrize(
    ("header", "tail", "words"),
    [
        (b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "parameters": {"binary_data_size": 32}}]}',
         b"\0" * 16, ["binary_data_size", "32 bytes", "only 16"]),
        (b'{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "parameters": {"binary_data_size": -1}}]}',
         None, ["non-negative"]),
        (b'{"inputs": [{"name": "x", "shape": [1, -2], "datatype": "FP64", "data": [1, 2]}]}', None, ["shape"]),
        (b'{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP16", "data": [1, 2]}]}', None, ["FP16", "binary"]),
        (b'{"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}', None, ["inputs[0].name"]),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}', None, ["'data' is missing"]),
        (b'{"inputs": "all"}', None, ["inputs", "list"]),
        (b'{"inputs": [], "parameters": {"binary_data_output": "yes"}}', None, ["binary_data_output", "true or false"]),
        (b'{"inputs": [], "outputs": [{"parameters": {}}]}', None, ["outputs[0]", "name"]),
        (b'{"inputs": [], "id": 7}', None, ["id"]),
        (b'{"inputs": []}', 999, ["inference-header-content-length"]),  # a header longer than the body
    ],
)  # fmt: skip
def test_bad_requests_are_named(header, tail, words):
    """`tail`: the bytes after the JSON header, or an `inference-header-content-length` to claim."""
    body, json_length = (header, tail) if isinstance(tail, int) else (header + (tail or b""), len(header))
    with pytest.raises(InvalidInput) as raised:
        parse_request(body, json_length)
    for word in words:
        assert word in raised.value.detail


def test_invalid_json_and_non_finite_cells():
    with pytest.raises(MalformedRequest, match="not valid JSON"):
        parse_request(b'{"inputs": [', 12)
    body = b'{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, NaN]}]}'
    with pytest.raises(InvalidInput, match=r"inputs\[0\]\.data\[1\]: NaN"):
        parse_request(body, len(body))


def test_binary_input_through_the_server(client, small_model):
    rows = small_model.holdout[:2]
    body, json_length = kserve_body(rows, "FP64", binary=True)
    response = client.post(INFER, content=body, headers={HEADER: str(json_length)})
    assert response.status_code == 200, response.text
    expected = client.post(f"/v1/models/{MODEL}:predict", json={"instances": rows.tolist()}).json()
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["predict"]["data"] == expected["predictions"]
    np.testing.assert_allclose(
        np.reshape(outputs["probabilities"]["data"], (2, -1)), expected["probabilities"]
    )


def test_requested_outputs_choose_order_and_binary_per_output(client, small_model):
    rows = small_model.holdout[:1]
    body, json_length = kserve_body(
        rows, "FP64", binary=False,
        request_outputs=[RequestedOutput("probabilities", {"binary_data": True}), RequestedOutput("predict")],
    )  # fmt: skip
    response = client.post(INFER, content=body, headers={HEADER: str(json_length)})
    assert response.status_code == 200, response.text
    json_length = int(response.headers[HEADER])
    header = orjson.loads(response.content[:json_length])
    assert [o["name"] for o in header["outputs"]] == ["probabilities", "predict"]
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 16}  # two FP64 probabilities
    assert "data" not in header["outputs"][0]
    assert header["outputs"][1]["data"] == client.post(  # JSON: the request's default
        f"/v1/models/{MODEL}:predict", json={"instances": rows.tolist()}).json()["predictions"]  # fmt: skip
    parsed = InferResponse.from_bytes(response.content, json_length)
    proba = parsed.get_output_by_name("probabilities").as_numpy()
    assert proba.shape == (1, 2) and abs(proba.sum() - 1) < 1e-9


def test_unknown_requested_output_is_refused_before_predicting(client, small_model):
    before = client.get(f"/v1/models/{MODEL}/predictions", params={"limit": 1000}).json()["predictions"]
    body = {
        "inputs": [
            {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": small_model.holdout[0].tolist()}
        ],
        "outputs": [{"name": "shap_values"}],
    }
    response = client.post(INFER, json=body)
    assert response.status_code == 422
    assert "shap_values" in response.json()["detail"] and "predict" in response.json()["detail"]
    after = client.get(f"/v1/models/{MODEL}/predictions", params={"limit": 1000}).json()["predictions"]
    assert len(after) == len(before)
