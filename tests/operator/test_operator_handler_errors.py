"""handlers.common: the one mapping of the operator's errors to kopf, the spec parsed once per event,
and the retraining timer's interval. No cluster: the handlers are called as plain functions."""

from __future__ import annotations

import subprocess
import sys

import kopf
import pytest
from xm_samples import BASE_SPEC, manifest, with_field

from explainops_operator.errors import (
    ConflictError,
    InvalidSpecError,
    KubeApiError,
    NotFoundError,
    RejectedError,
    TransientApiError,
)
from explainops_operator.handlers.common import kopf_errors, parse_event


def body(spec_body: dict, generation: int = 3) -> dict:
    out = manifest("bc", spec_body)
    out["metadata"].update(namespace="ml", uid="u-1", generation=generation)
    return out


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InvalidSpecError("spec.model.version", "bad"), kopf.PermanentError),
        (RejectedError("422 from the API server"), kopf.PermanentError),
        (NotFoundError("gone"), kopf.PermanentError),
        (TransientApiError("503"), kopf.TemporaryError),
        (ConflictError("409"), kopf.TemporaryError),
        (KubeApiError("odd"), kopf.TemporaryError),
    ],
    ids=["invalid-spec", "rejected", "not-found", "transient", "conflict", "other-api-error"],
)
def test_operator_errors_become_kopf_errors(error: Exception, expected: type) -> None:
    @kopf_errors
    def handler(**_: object) -> None:
        raise error

    with pytest.raises(expected) as caught:
        handler(body={}, logger=None)
    assert caught.value.__cause__ is error
    assert str(error) in str(caught.value)
    if expected is kopf.TemporaryError:
        assert caught.value.delay and caught.value.delay > 0


def test_other_exceptions_are_not_swallowed() -> None:
    @kopf_errors
    def handler() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        handler()


def test_spec_parsed_once_and_reused_for_the_same_generation() -> None:
    event = parse_event(body(BASE_SPEC))
    assert event.owner.name == "bc" and event.generation == 3
    same = body(with_field("explainer.type", "KernelShap"), generation=3)  # cannot differ at one generation
    assert event.spec_of(same) is event.spec
    newer = body(with_field("explainer.type", "KernelShap"), generation=4)
    assert event.spec_of(newer).explainer.type == "KernelShap"
    with pytest.raises(InvalidSpecError, match=r"^metadata\.name"):
        parse_event({**body(BASE_SPEC), "metadata": {"name": "Bad", "namespace": "ml", "uid": "u"}})


def test_timers_run_at_the_configured_intervals() -> None:
    """kopf timers at retraining_interval_seconds and serving_check_interval_seconds (no memo throttle),
    read when the handlers load."""
    code = (
        "import kopf, explainops_operator.handlers.retraining;"
        "print([(h.id, h.interval) for h in kopf.get_default_registry()._spawning.get_all_handlers()])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
        env={"EXPLAINOPS_OPERATOR_RETRAINING_INTERVAL_SECONDS": "7.5",
             "EXPLAINOPS_OPERATOR_SERVING_CHECK_INTERVAL_SECONDS": "4.5", "PATH": ""},
    )
    assert result.stdout.strip().splitlines()[-1] == "[('check_serving', 4.5), ('retraining_tick', 7.5)]"
