"""Pure: status conditions and the serving part of an ExplainableModel's status.

Conditions follow metav1.Condition: type, status, reason, message, lastTransitionTime and
observedGeneration; one entry per type. `set_condition` is the one way to change one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

# Condition types.
READY = "Ready"
INFERENCE_SERVICE_READY = "InferenceServiceReady"
RETRAINING = "Retraining"

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"


class Reason:
    """Reasons of the Ready and InferenceServiceReady conditions (CamelCase, stable: tools match on them)."""

    SERVING = "Serving"
    INVALID_SPEC = "InvalidSpec"
    PROGRESSING = "Progressing"
    INFERENCE_SERVICE_READY = "InferenceServiceReady"
    INFERENCE_SERVICE_NOT_READY = "InferenceServiceNotReady"
    INFERENCE_SERVICE_PENDING = "InferenceServicePending"
    INFERENCE_SERVICE_MISSING = "InferenceServiceMissing"
    INFERENCE_SERVICE_REJECTED = "InferenceServiceRejected"
    MODEL_LOAD_FAILED = "ModelLoadFailed"  # the serving container stops at start (KServe's lastFailureInfo)


def utc_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with a Z, to the second, as Kubernetes writes it."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_condition(conditions: Sequence[Mapping[str, Any]] | None, condition_type: str) -> Mapping[str, Any] | None:
    for condition in conditions or ():
        if condition.get("type") == condition_type:
            return condition
    return None


def condition_status(conditions: Sequence[Mapping[str, Any]] | None, condition_type: str) -> str:
    condition = get_condition(conditions, condition_type)
    return str(condition.get("status", UNKNOWN)) if condition else UNKNOWN


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    condition_type: str,
    status: str,
    reason: str,
    message: str,
    observed_generation: int | None,
    *,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """A new conditions list with `condition_type` set. lastTransitionTime changes only when the status does.

    The input is not modified. Returns an equal list when nothing changed, so callers can skip the write.
    """
    if status not in (TRUE, FALSE, UNKNOWN):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    result = [dict(c) for c in conditions or ()]
    previous = get_condition(result, condition_type)
    transition = (
        previous["lastTransitionTime"]
        if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime")
        else utc_timestamp(now)
    )
    entry: dict[str, Any] = {
        "type": condition_type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        entry["observedGeneration"] = observed_generation
    if previous is None:
        result.append(entry)
    else:
        result[result.index(previous)] = entry
    return result


def status_patch(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch turning the `desired` top-level status fields of `current` into `desired`,
    or None when they already match (no write needed). Fields absent from `desired` are left alone."""
    current = current or {}
    patch = {key: copy.deepcopy(value) for key, value in desired.items() if current.get(key) != value}
    return patch or None


# --------------------------------------------------------------------------- serving status


def inference_service_readiness(
    inference_service: Mapping[str, Any] | None, start_failure: str | None = None
) -> tuple[str, str, str]:
    """(status, reason, message) of the InferenceServiceReady condition, from what KServe promises: its
    conditions and its per-component status. Not status.observedGeneration: KServe copies that from the
    Deployment (or the Knative Service), so it says nothing about the InferenceService's generation."""
    if inference_service is None:
        return FALSE, Reason.INFERENCE_SERVICE_MISSING, "the InferenceService does not exist"
    status = inference_service.get("status") or {}
    kserve_conditions = status.get("conditions") or []
    ready = get_condition(kserve_conditions, "Ready")
    if ready is None:
        return UNKNOWN, Reason.INFERENCE_SERVICE_PENDING, "waiting for KServe to report the InferenceService's readiness"
    if ready.get("status") != TRUE:
        failure = start_failure or _load_failure(status)
        if failure is not None:
            return FALSE, Reason.MODEL_LOAD_FAILED, failure
        return FALSE, Reason.INFERENCE_SERVICE_NOT_READY, f"InferenceService not ready: {_not_ready_detail(kserve_conditions)}"
    predictor = (status.get("components") or {}).get("predictor") or {}
    created, ready_revision = predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")
    if created and created != ready_revision:
        return (
            UNKNOWN,
            Reason.INFERENCE_SERVICE_PENDING,
            f"KServe is rolling out revision {created} (ready: {ready_revision or 'none'})",
        )
    return TRUE, Reason.INFERENCE_SERVICE_READY, f"InferenceService ready at {inference_service_url(status) or '?'}"


MAX_FAILURE_MESSAGE = 1024


def _failure_text(message: Any, exit_code: Any) -> str | None:
    text = str(message or "").strip()
    if not text:
        return None
    if len(text) > MAX_FAILURE_MESSAGE:
        text = "..." + text[-MAX_FAILURE_MESSAGE:]
    return f"the serving container stopped at start (exit code {exit_code}): {text}"


def _load_failure(is_status: Mapping[str, Any]) -> str | None:
    """Where KServe reports it (status.modelStatus.lastFailureInfo, filled from the Pods by some KServe
    versions and modes)."""
    info = (is_status.get("modelStatus") or {}).get("lastFailureInfo") or {}
    return _failure_text(info.get("message"), info.get("exitCode"))


def serving_container_failure(pods: Sequence[Mapping[str, Any]], container: str = "kserve-container") -> str | None:
    """Why the serving container of the InferenceService's Pods stopped, from the Pods themselves: its
    termination message (the server's start-up refusal, via FallbackToLogsOnError), None while none failed."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") != container:
                continue
            for state in ((status.get("state") or {}).get("terminated"),
                          (status.get("lastState") or {}).get("terminated")):
                if state and state.get("exitCode"):
                    failure = _failure_text(state.get("message") or state.get("reason"), state.get("exitCode"))
                    if failure is not None:
                        return failure
    return None


def kserve_ready(inference_service: Mapping[str, Any] | None) -> bool:
    ready = get_condition(((inference_service or {}).get("status") or {}).get("conditions"), "Ready")
    return ready is not None and ready.get("status") == TRUE


def _not_ready_detail(kserve_conditions: Sequence[Mapping[str, Any]]) -> str:
    """KServe's Ready often says little; the failing component conditions (PredictorReady, ...) say why."""
    parts = []
    for condition in kserve_conditions:
        if condition.get("status") == TRUE:
            continue
        detail = condition.get("message") or condition.get("reason")
        if detail and condition.get("type") != "Ready":
            parts.append(f"{condition.get('type')}: {detail}")
    ready = get_condition(kserve_conditions, "Ready") or {}
    ready_detail = ready.get("message") or ready.get("reason")
    if ready_detail and not parts:
        parts.append(str(ready_detail))
    return "; ".join(parts) or "no detail given"


def inference_service_url(is_status: Mapping[str, Any]) -> str | None:
    """KServe's cluster-local address first: ``status.url`` is the external host (``{name}-{ns}.example.com``
    on a default install), which neither the operator nor in-cluster clients can reach."""
    url = (is_status.get("address") or {}).get("url") or is_status.get("url")
    return str(url) if url else None


def inference_service_address(is_status: Mapping[str, Any]) -> str | None:
    """The cluster-local URL (status.address.url); status.url is the external host."""
    url = (is_status.get("address") or {}).get("url")
    return str(url) if url else None


def serving_status(
    current: Mapping[str, Any] | None,
    *,
    generation: int,
    model_version: str,
    inference_service: Mapping[str, Any] | None,
    rendered_current: bool,
    requirement: str | None = None,
    start_failure: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The serving fields of the status (observedGeneration, modelVersion, url, address, Ready and
    InferenceServiceReady) given the live InferenceService.

    `rendered_current` says whether the InferenceService already renders this generation's spec; only
    then does observedGeneration advance and can Ready be True. `requirement` (e.g. the Knative feature
    flags the pod needs) is added to every message that is not Ready, where it may be the cause.
    `start_failure` (see `serving_container_failure`) says why the serving container stopped.
    """
    current = current or {}
    is_status, is_reason, is_message = inference_service_readiness(inference_service, start_failure)
    if requirement and is_status != TRUE:
        is_message = f"{is_message}; {requirement}"
    conditions = set_condition(
        current.get("conditions"), INFERENCE_SERVICE_READY, is_status, is_reason, is_message, generation, now=now
    )
    if not rendered_current:
        ready = (FALSE, Reason.PROGRESSING, f"rendering generation {generation} into the InferenceService")
    elif is_status == TRUE:
        ready = (TRUE, Reason.SERVING, f"serving model version {model_version}")
    else:
        ready = (FALSE, is_reason, is_message)
    conditions = set_condition(conditions, READY, *ready, generation, now=now)
    desired: dict[str, Any] = {"conditions": conditions, "modelVersion": model_version}
    if rendered_current:
        desired["observedGeneration"] = generation
    is_status_fields = (inference_service or {}).get("status") or {}
    url = inference_service_url(is_status_fields)
    if url is not None:
        desired["url"] = url
    address = inference_service_address(is_status_fields)
    if address is not None:
        desired["address"] = {"url": address}
    return desired


def invalid_spec_status(
    current: Mapping[str, Any] | None, *, generation: int, message: str, reason: str = Reason.INVALID_SPEC,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Ready=False naming the field; the generation counts as observed (the verdict is final until it changes)."""
    conditions = set_condition((current or {}).get("conditions"), READY, FALSE, reason, message, generation, now=now)
    return {"conditions": conditions, "observedGeneration": generation}
