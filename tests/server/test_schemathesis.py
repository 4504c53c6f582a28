"""Property-based fuzzing of every operation in /openapi.json against a real server: never a 5xx, and
every answer conforms to the schema the document declares for it (the served contract is the
documented one)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import response_schema_conformance

EXAMPLES_PER_OPERATION = 10


def fuzz(operation, base_url: str, failures: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case) -> None:
        response = case.call(base_url=base_url, timeout=60)
        if response.status_code >= 500:
            failures.append(
                f"{operation.method.upper()} {case.formatted_path}: {response.status_code} {response.text[:200]}"
            )
            return
        if response.status_code >= 400 and case.formatted_path != "/openapi.json":
            body = response.json()
            if set(body) != {"error", "detail"}:
                failures.append(f"{operation.method.upper()} {case.formatted_path}: error body {body!r:.200}")
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except Exception as exc:  # schemathesis raises a failure group naming what does not conform
            failures.append(f"{operation.method.upper()} {case.formatted_path}: {str(exc)[:400]}")

    check()


def test_no_operation_answers_5xx(run_server, small_model):
    # A one-worker pool so that the explanation bounds are exercised too; auth is off here.
    server = run_server(small_model, explain_workers=1, explain_queue=1)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        fuzz(result.ok(), server.url, failures)
    assert operations >= 15
    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize("path", ["/v1/models/{name}:predict", "/v2/models/{name}/infer"])
def test_documented_request_bodies(client, path):
    body = client.get("/openapi.json").json()["paths"][path]["post"]["requestBody"]
    assert body["required"] is True and "application/json" in body["content"]


def test_the_conformance_check_catches_an_answer_the_document_does_not_describe(server):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operation = schema["/v1/models/{name}:predict"]["POST"]
    case = operation.Case(path_parameters={"name": "breast-cancer"}, body={"instances": [[1.0] * 30]})
    right = case.call(base_url=server.url)
    assert right.status_code == 200
    case.validate_response(right, checks=[response_schema_conformance])
    wrong = schemathesis.Response(
        status_code=200,
        headers={"content-type": ["application/json"]},
        content=b'{"predictions": "not a list"}',
        request=right.request,
        elapsed=right.elapsed,
        verify=right.verify,
    )
    with pytest.raises(BaseExceptionGroup) as caught:  # schemathesis' FailureGroup, one entry per violation
        case.validate_response(wrong, checks=[response_schema_conformance])
    assert any("violates schema" in str(failure) for failure in caught.value.exceptions)
