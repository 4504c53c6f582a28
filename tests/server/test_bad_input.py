"""Every bad input gets a 4xx that names the problem, and the server keeps serving."""

from __future__ import annotations

import json

import pytest

from .conftest import MODEL

PREDICT = f"/v1/models/{MODEL}:predict"
INFER = f"/v2/models/{MODEL}/infer"


def row(n: int = 30) -> list[float]:
    return [1.0] * n


CASES = [
    # (name, path, raw body, expected status, words the detail must contain)
    ("wrong feature count", PREDICT, json.dumps({"instances": [row(29)]}), 422, ["30 features", "29"]),
    ("ragged rows", PREDICT, json.dumps({"instances": [row(), row(31)]}), 422, ["instances[1]"]),
    ("NaN", PREDICT, '{"instances": [[NaN' + ", 1.0" * 29 + "]]}", 422, ["NaN"]),
    ("infinity", PREDICT, '{"instances": [[1.0, Infinity' + ", 1.0" * 28 + "]]}", 422, ["instances[0][1]"]),
    (
        "string value",
        PREDICT,
        json.dumps({"instances": [["abc", *row(29)]]}),
        422,
        ["instances[0][0]", "str"],
    ),
    ("numeric string", PREDICT, json.dumps({"instances": [["1.5", *row(29)]]}), 422, ["number"]),
    ("boolean value", PREDICT, json.dumps({"instances": [[True, *row(29)]]}), 422, ["bool"]),
    ("instances not a list", PREDICT, json.dumps({"instances": "all"}), 422, ["instances"]),
    ("empty instances", PREDICT, json.dumps({"instances": []}), 422, ["at least one instance"]),
    ("no instances", PREDICT, json.dumps({"rows": [row()]}), 422, ["instances"]),
    ("body not an object", PREDICT, json.dumps([row()]), 422, ["JSON object"]),
    ("malformed JSON", PREDICT, '{"instances": [[1.0, 2.0', 400, ["not valid JSON"]),
    ("empty body", PREDICT, "", 400, ["empty"]),
    ("unknown model", "/v1/models/nope:predict", json.dumps({"instances": [row()]}), 404, ["nope"]),
    ("v2 unknown model", "/v2/models/nope/infer", json.dumps({"inputs": []}), 404, ["nope"]),
    (
        "v2 wrong feature count",
        INFER,
        json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}),
        422,
        ["30 features"],
    ),
    (  # as V1: 422 naming the cell, not 400 "not JSON"
        "v2 NaN",
        INFER,
        '{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [NaN' + ", 1" * 29 + "]}]}",
        422,
        ["inputs[0].data[0]", "NaN"],
    ),
    (
        "v2 infinity in a nested row",
        INFER,
        '{"inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": [['
        + ", ".join(["1"] * 30)
        + "], [1, 2, 3, -Infinity"
        + ", 1" * 26
        + "]]}]}",
        422,
        ["inputs[0].data[33]"],
    ),
    ("v2 malformed JSON", INFER, '{"inputs": [{"name": ', 400, ["not valid JSON"]),
    (
        "v2 strings",
        INFER,
        json.dumps({"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ["a"] * 30}]}),
        422,
        ["inputs[0].data", "str"],
    ),
    (
        "v2 BYTES tensor of one dimension",
        INFER,
        json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}),
        422,
        ["BYTES", "[rows, columns]"],
    ),
    (
        "v2 BYTES text in a numeric column",
        INFER,
        json.dumps({"inputs": [{"name": "x", "shape": [1, 30], "datatype": "BYTES", "data": ["a"] * 30}]}),
        422,
        ["inputs[0][0][0]", "expected a number", "'a'"],
    ),
    (
        "v2 column tensors with an unknown column",
        INFER,
        json.dumps(
            {
                "inputs": [
                    {"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]},
                    {"name": "y", "shape": [1], "datatype": "FP64", "data": [1.0]},
                ]
            }
        ),
        422,
        ["unknown column tensor", "'x'"],
    ),
    (
        "v2 shape mismatch",
        INFER,
        json.dumps({"inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": row()}]}),
        422,
        ["inputs[0].data"],
    ),
    (
        "v2 empty tensor",
        INFER,
        json.dumps({"inputs": [{"name": "x", "shape": [0, 30], "datatype": "FP64", "data": []}]}),
        422,
        ["non-empty"],
    ),
    ("v2 no inputs", INFER, json.dumps({"inputs": []}), 422, ["at least one input tensor"]),
    (
        "v2 missing data",
        INFER,
        json.dumps({"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64"}]}),
        422,
        ["data"],
    ),
    ("v2 not an object", INFER, json.dumps([1, 2]), 422, ["inputs"]),
    ("feedback malformed JSON", f"/v1/models/{MODEL}/feedback", "{oops", 400, ["not valid JSON"]),
]


@pytest.mark.parametrize(("name", "path", "body", "status", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_named_4xx(client, small_model, name, path, body, status, words):
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error", "detail"}
    for word in words:
        assert word in payload["detail"], (word, payload)
    healthy = client.post(PREDICT, json={"instances": small_model.holdout[:1].tolist()})
    assert healthy.status_code == 200


def test_ten_megabyte_body_is_413(client, small_model):
    big = b'{"instances": [' + b"[" + b"1.0," * 2_700_000 + b"1.0]]}"
    assert len(big) > 10_000_000
    response = client.post(PREDICT, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"

    def chunks():  # no content-length: the limit applies while streaming
        for _ in range(100):
            yield b"1" * 100_000

    streamed = client.post(PREDICT, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.post(PREDICT, json={"instances": small_model.holdout[:1].tolist()}).status_code == 200


def test_too_many_rows_is_422(run_server, small_model):
    server = run_server(small_model, max_batch=5)
    import httpx

    with httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post(PREDICT, json={"instances": [row()] * 6})
    assert response.status_code == 422 and "at most 5" in response.json()["detail"]


def test_unknown_route_uses_the_error_shape(client):
    missing = client.get("/v3/nothing")
    assert missing.status_code == 404 and set(missing.json()) == {"error", "detail"}
