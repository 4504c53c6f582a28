"""Pure: status.retraining / history / the Retraining condition, for each step of the retraining loop.

Steps: trigger (sequence + activeJob recorded before the Job exists), then one outcome per Job:
Promoted (gate passed), Rejected (gate failed, champion stays) or Failed (Job failed, backoff).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from explainops_operator import gate
from explainops_operator.conditions import (
    FALSE,
    RETRAINING,
    TRUE,
    get_condition,
    set_condition,
    utc_timestamp,
)
from explainops_operator.policy import Decision, RetrainingState, failure_backoff_until
from explainops_operator.spec import ExplainableModelSpec

# Retraining condition reasons besides the policy's hold reasons.
JOB_RUNNING = "JobRunning"
PROMOTED = "Promoted"
GATE_FAILED = gate.GATE_FAILED
JOB_FAILED = "JobFailed"
RESULT_UNREADABLE = "ResultUnreadable"
STATS_UNAVAILABLE = "StatsUnavailable"
# A finished run's reason stays on the condition until the next trigger (status.retraining.notBefore
# tells when that may be); hold reasons only replace other hold reasons.
OUTCOME_REASONS = frozenset({PROMOTED, GATE_FAILED, JOB_FAILED, RESULT_UNREADABLE, gate.METRIC_UNAVAILABLE})

OUTCOME_PROMOTED = "Promoted"
OUTCOME_REJECTED = "Rejected"
OUTCOME_FAILED = "Failed"

MAX_HISTORY = 20
MAX_REASON_CHARS = 4000


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def retraining_state(status: Mapping[str, Any] | None) -> RetrainingState:
    section = (status or {}).get("retraining") or {}
    return RetrainingState(
        active_job=section.get("activeJob") or None,
        last_trigger_at=parse_time((section.get("lastTrigger") or {}).get("at")),
        last_finished_at=parse_time((section.get("lastResult") or {}).get("finishedAt")),
        consecutive_failures=int(section.get("consecutiveFailures") or 0),
        not_before=parse_time(section.get("notBefore")),
    )


def sequence_of(status: Mapping[str, Any] | None) -> int:
    return int(((status or {}).get("retraining") or {}).get("sequence") or 0)


def trigger_patch(
    status: Mapping[str, Any] | None,
    *,
    job: str,
    sequence: int,
    decision: Decision,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """Recorded BEFORE the Job is created: whoever sees activeJob set creates (or finds) exactly that Job."""
    return {
        "retraining": {
            "sequence": sequence,
            "activeJob": job,
            "lastTrigger": {"reason": decision.reason, "at": utc_timestamp(now)},
        },
        "conditions": set_condition(
            (status or {}).get("conditions"),
            RETRAINING,
            TRUE,
            JOB_RUNNING,
            f"job {job}: {decision.message}",
            generation,
            now=now,
        ),
    }


def hold_condition_patch(
    status: Mapping[str, Any] | None, *, reason: str, message: str, generation: int, now: datetime
) -> dict[str, Any] | None:
    """Retraining=False with a hold reason, unless it already says so or shows a finished run's outcome."""
    conditions = (status or {}).get("conditions")
    current = get_condition(conditions, RETRAINING)
    if current is not None and (current.get("reason") == reason or current.get("reason") in OUTCOME_REASONS):
        return None
    return {"conditions": set_condition(conditions, RETRAINING, FALSE, reason, message, generation, now=now)}


def parse_trainer_result(message: str | None) -> dict[str, Any] | None:
    """The trainer's termination message (JSON object), or None if absent or unreadable."""
    if not message:
        return None
    try:
        result = json.loads(message)
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def flat_metrics(result: Mapping[str, Any]) -> dict[str, float | None]:
    """candidate/champion metrics as `candidateHoldoutAccuracy`, ... (status.retraining.lastResult.metrics)."""
    metrics: dict[str, float | None] = {}
    for side in ("candidate", "champion"):
        values = result.get(side)
        if not isinstance(values, Mapping):
            continue
        for key, value in list(values.items())[:12]:
            name = f"{side}{key[:1].upper()}{key[1:]}"
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            metrics[name] = float(value) if is_number else None
    return metrics


@dataclass(frozen=True)
class FinishedJob:
    """What the handler read from the finished Job and its Pod."""

    job: str
    succeeded: bool
    base_version: str
    candidate_version: str
    trigger_reason: str
    termination_message: str | None = None
    failure_message: str = ""  # the Job's Failed condition (deadline, backoff limit), if failed


@dataclass(frozen=True)
class Outcome:
    outcome: str  # Promoted | Rejected | Failed
    reason: str  # the Retraining condition reason
    message: str
    patch: dict[str, Any]


def finish(
    status: Mapping[str, Any] | None,
    spec: ExplainableModelSpec,
    finished: FinishedJob,
    *,
    generation: int,
    now: datetime,
) -> Outcome:
    """The status patch closing a run: gate + promotion, rejection, or failure with backoff."""
    status = status or {}
    result = parse_trainer_result(finished.termination_message)
    retraining = spec.retraining

    if not finished.succeeded:
        detail = _failure_detail(result, finished.failure_message)
        return _failed(
            status, spec, finished, JOB_FAILED, f"job {finished.job} failed: {detail}", generation, now
        )
    if (
        result is None
        or result.get("status") != "succeeded"
        or result.get("version") != finished.candidate_version
    ):
        message = f"job {finished.job} succeeded but its termination message is not the trainer's result " + (
            f"for {finished.candidate_version}"
        )
        return _failed(status, spec, finished, RESULT_UNREADABLE, message, generation, now)

    verdict = gate.evaluate(
        retraining.gate,
        result.get("candidate") or {},
        result.get("champion") or {},
    )
    pinned = spec.model.pinned_version
    promote = verdict.passed and not pinned
    if promote:
        outcome, reason = OUTCOME_PROMOTED, PROMOTED
        message = f"{finished.candidate_version} promoted over {finished.base_version}: {verdict.message}"
    elif verdict.passed:
        outcome, reason = OUTCOME_REJECTED, GATE_FAILED
        message = (
            f"{finished.candidate_version} passed the gate but spec.model.pinnedVersion={pinned} is set; "
            f"not promoted ({verdict.message})"
        )
    else:
        outcome, reason = OUTCOME_REJECTED, verdict.reason
        message = f"{finished.candidate_version} rejected, {finished.base_version} stays: {verdict.message}"

    cooldown_end = now + timedelta(seconds=retraining.cooldown_seconds)
    patch: dict[str, Any] = {
        "retraining": {
            "activeJob": None,
            "consecutiveFailures": 0,
            "notBefore": utc_timestamp(cooldown_end),
            "lastResult": _last_result(finished, outcome, message, result, now),
        },
        "conditions": set_condition(
            status.get("conditions"), RETRAINING, FALSE, reason, message, generation, now=now
        ),
    }
    if promote:
        candidate = result.get("candidate") or {}
        entry = {
            "version": finished.candidate_version,
            "promotedAt": utc_timestamp(now),
            "fromVersion": finished.base_version,
            "reason": finished.trigger_reason,
            "job": finished.job,
            "holdoutAccuracy": _number(candidate.get("holdoutAccuracy")),
            "feedbackAccuracy": _number(candidate.get("feedbackAccuracy")),
        }
        for error in ("holdoutMAE", "holdoutRMSE"):  # regressors only: a classifier's entry is unchanged
            if _number(candidate.get(error)) is not None:
                entry[error] = _number(candidate.get(error))
        patch["modelVersion"] = finished.candidate_version
        patch["history"] = [*list(status.get("history") or []), entry][-MAX_HISTORY:]
    return Outcome(outcome, reason, message, patch)


def _failed(
    status: Mapping[str, Any],
    spec: ExplainableModelSpec,
    finished: FinishedJob,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> Outcome:
    failures = int((status.get("retraining") or {}).get("consecutiveFailures") or 0) + 1
    retry_at = failure_backoff_until(now, failures, spec.retraining.failure_backoff_seconds)
    message = f"{message}; {failures} failure(s) in a row, next trigger not before {utc_timestamp(retry_at)}"
    patch = {
        "retraining": {
            "activeJob": None,
            "consecutiveFailures": failures,
            "notBefore": utc_timestamp(retry_at),
            "lastResult": _last_result(finished, OUTCOME_FAILED, message, None, now),
        },
        "conditions": set_condition(
            status.get("conditions"), RETRAINING, FALSE, reason, message, generation, now=now
        ),
    }
    return Outcome(OUTCOME_FAILED, reason, message, patch)


def _last_result(
    finished: FinishedJob, outcome: str, message: str, result: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any]:
    return {
        "job": finished.job,
        "outcome": outcome,
        "reason": message[:MAX_REASON_CHARS],
        "candidateVersion": finished.candidate_version,
        "metrics": flat_metrics(result) if result else {},
        "finishedAt": utc_timestamp(now),
    }


def _failure_detail(result: Mapping[str, Any] | None, job_message: str) -> str:
    if result and result.get("error"):
        return f"{result.get('error')}: {result.get('detail', '')}"[:1500]
    return job_message or "no termination message"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
