"""Feedback-driven retraining: one kopf timer per ExplainableModel drives the whole loop.

Each tick (every `retraining_interval_seconds`):
- a run is active (status.retraining.activeJob) -> make sure its Job exists (deterministic name; 409 =
  already there), and once the Job has finished read the trainer's result from the Pod's termination
  message, apply the gate and promote / reject / record the failure;
- otherwise -> read the server's feedback stats, mirror them into status.feedback, ask the policy,
  and on "retrain" record the trigger (sequence + 1, activeJob) BEFORE creating the Job.
Recording first makes creation an at-most-once step: after a restart the recorded Job is created
(or found), never a second one. Status writes are guarded by resourceVersion, so two operator
processes cannot both record a trigger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from explainops_operator import retraining_status as rs
from explainops_operator.builders import Owner
from explainops_operator.conditions import utc_timestamp
from explainops_operator.errors import InvalidSpecError, KubeApiError
from explainops_operator.jobs import (
    BASE_VERSION_ANNOTATION,
    CANDIDATE_VERSION_ANNOTATION,
    TRAINER_CONTAINER,
    TRIGGER_REASON_ANNOTATION,
    TrainingRun,
    build_retraining_job,
    job_name,
)
from explainops_operator.kube import explainablemodels, jobs
from explainops_operator.policy import (
    NO_STATS,
    RetrainingPolicy,
    Thresholds,
    decide,
    next_candidate_version,
)
from explainops_operator.settings import get_settings
from explainops_operator.spec import GROUP, PLURAL, VERSION, ExplainableModelSpec, parse_spec, served_version
from explainops_operator.stats_client import StatsUnavailable, feedback_status, fetch_stats, figures_for

# kopf wakes the timer this often; the work itself runs every `retraining_interval_seconds`.
TICK_SECONDS = 1.0
# status.feedback.observedAt is refreshed at least this often even when the figures do not change.
FEEDBACK_REFRESH_SECONDS = 60.0


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, sharp=False)
def retraining_tick(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    now = time.monotonic()
    if now < getattr(memo, "retraining_next_tick", 0.0):
        return
    memo.retraining_next_tick = now + get_settings().retraining_interval_seconds
    try:
        reconcile_retraining(dict(body), logger)
    except KubeApiError as exc:  # transient or not, the next tick starts again from a fresh read
        logger.warning(f"retraining: {exc}; retrying on the next tick")


def reconcile_retraining(body: Mapping[str, Any], logger: logging.Logger) -> None:
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return
    try:
        spec = parse_spec(body.get("spec") or {})
    except InvalidSpecError:
        return  # Ready=False InvalidSpec is reported by the serving handler
    status = body.get("status") or {}
    active = (status.get("retraining") or {}).get("activeJob")
    if active:
        _follow_job(body, spec, active, logger)
    else:
        _consider_trigger(body, spec, logger)


# --------------------------------------------------------------------------- trigger


def _consider_trigger(body: Mapping[str, Any], spec: ExplainableModelSpec, logger: logging.Logger) -> None:
    meta, status = body["metadata"], body.get("status") or {}
    namespace, name = meta["namespace"], meta["name"]
    served = served_version(body.get("spec") or {}, status)
    stats = _read_stats(body, spec, logger)  # mirrored into status.feedback even when retraining is off
    figures = figures_for(stats, served) if stats is not None else None
    if stats is not None:
        _mirror_feedback(namespace, name, status, feedback_status(stats, served))

    now = datetime.now(UTC)
    policy = RetrainingPolicy(
        enabled=spec.retraining.enabled,
        thresholds=Thresholds(
            spec.feedback.thresholds.min_labelled,
            spec.feedback.thresholds.max_error_rate,
            spec.feedback.thresholds.min_explanation_rating,
            spec.feedback.thresholds.max_mae,
            spec.feedback.thresholds.max_rmse,
        ),
        cooldown_seconds=spec.retraining.cooldown_seconds,
        pinned=bool(spec.model.pinned_version),
    )
    decision = decide(policy, rs.retraining_state(status), figures, served, now)
    if not decision.retrain:
        reason, message = decision.reason, decision.message
        if decision.reason == NO_STATS and stats is None and status.get("url"):
            reason, message = rs.STATS_UNAVAILABLE, f"cannot read feedback stats from {status.get('url')}"

        def hold(current: dict[str, Any]) -> dict[str, Any] | None:
            return rs.hold_condition_patch(
                current.get("status"),
                reason=reason,
                message=message,
                generation=current["metadata"]["generation"],
                now=now,
            )

        # Checked on the cached body first: most ticks change nothing and cost no API call.
        if hold(dict(body)) is not None:
            explainablemodels.update_status(namespace, name, hold)
        return

    sequence = rs.sequence_of(status) + 1
    job = job_name(name, sequence)

    def record(current: dict[str, Any]) -> dict[str, Any] | None:
        current_status = current.get("status") or {}
        retraining = current_status.get("retraining") or {}
        if retraining.get("activeJob") or rs.sequence_of(current_status) != sequence - 1:
            return None  # someone recorded a trigger since we read the object
        return rs.trigger_patch(
            current_status,
            job=job,
            sequence=sequence,
            decision=decision,
            generation=current["metadata"]["generation"],
            now=now,
        )

    recorded = explainablemodels.update_status(namespace, name, record)
    if recorded is None:
        return
    logger.info(f"retraining triggered ({decision.reason}: {decision.message}); creating Job {job}")
    _ensure_job(recorded, spec, job, logger)


def _read_stats(body: Mapping[str, Any], spec: ExplainableModelSpec, logger: logging.Logger) -> dict | None:
    url = (body.get("status") or {}).get("url")
    if not url:
        return None
    meta = body["metadata"]
    token = None
    ref = spec.serving.auth_token_secret_ref
    if ref is not None:
        token = jobs.read_secret_key(meta["namespace"], ref.name, ref.key)
    try:
        return fetch_stats(
            url,
            meta["name"],
            spec.feedback.window,
            token=token,
            timeout=get_settings().stats_timeout_seconds,
        )
    except StatsUnavailable as exc:
        logger.warning(f"retraining: {exc}")
        return None


def _mirror_feedback(namespace: str, name: str, status: Mapping[str, Any], figures: dict | None) -> None:
    """status.feedback <- the served version's figures; written only when they change (or are stale)."""
    if figures is None:
        return
    current = dict(status.get("feedback") or {})
    observed = rs.parse_time(current.pop("observedAt", None))
    fresh = observed is not None and (datetime.now(UTC) - observed).total_seconds() < FEEDBACK_REFRESH_SECONDS
    if current == figures and fresh:
        return
    explainablemodels.patch_status(namespace, name, {"feedback": {**figures, "observedAt": utc_timestamp()}})


# --------------------------------------------------------------------------- the Job


def _owner(body: Mapping[str, Any]) -> Owner:
    meta = body["metadata"]
    return Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def _ensure_job(
    body: Mapping[str, Any], spec: ExplainableModelSpec, job: str, logger: logging.Logger
) -> None:
    """Create the recorded Job (same name and arguments on every call; 409 means it exists)."""
    status = body.get("status") or {}
    retraining = status.get("retraining") or {}
    sequence = rs.sequence_of(status)
    settings = get_settings()
    run = TrainingRun(
        owner=_owner(body),
        spec=spec,
        sequence=sequence,
        base_version=served_version(body.get("spec") or {}, status),
        candidate_version=next_candidate_version(spec.model.version, sequence),
        image=spec.serving.image or settings.server_image,
        trigger_reason=str((retraining.get("lastTrigger") or {}).get("reason") or "Unknown"),
        pull_policy=settings.image_pull_policy,
    )
    try:
        manifest = build_retraining_job(run)
    except InvalidSpecError as exc:
        failed = rs.FinishedJob(
            job,
            False,
            run.base_version,
            run.candidate_version,
            run.trigger_reason,
            None,
            f"cannot build it: {exc}",
        )
        _finish(body, spec, failed)
        return
    _, created = jobs.create_job(manifest)
    if created:
        logger.info(f"created Job {job}: {run.base_version} -> {run.candidate_version}")


def _follow_job(
    body: Mapping[str, Any], spec: ExplainableModelSpec, job: str, logger: logging.Logger
) -> None:
    namespace = body["metadata"]["namespace"]
    live = jobs.get_job(namespace, job)
    if live is None:
        # Recorded but not created (the operator stopped in between): create it now.
        _ensure_job(body, spec, job, logger)
        return
    owners = live["metadata"].get("ownerReferences") or []
    if not any(ref.get("uid") == body["metadata"]["uid"] for ref in owners):
        logger.warning(
            f"Job {job} belongs to an earlier object of this name; waiting for its garbage collection"
        )
        return
    state = _job_state(live)
    if state is None:
        return
    annotations = live["metadata"].get("annotations") or {}
    finished = rs.FinishedJob(
        job=job,
        succeeded=state == "Complete",
        base_version=annotations.get(BASE_VERSION_ANNOTATION, ""),
        candidate_version=annotations.get(CANDIDATE_VERSION_ANNOTATION, ""),
        trigger_reason=annotations.get(TRIGGER_REASON_ANNOTATION, ""),
        termination_message=_termination_message(namespace, job, succeeded=state == "Complete"),
        failure_message=_failed_condition_message(live),
    )
    outcome = _finish(body, spec, finished)
    if outcome is not None:
        logger.info(
            f"retraining Job {job} finished: {outcome.outcome} ({outcome.reason}) - {outcome.message}"
        )
        _post_event(body, outcome)


def _finish(
    body: Mapping[str, Any], spec: ExplainableModelSpec, finished: rs.FinishedJob
) -> rs.Outcome | None:
    meta = body["metadata"]
    result: list[rs.Outcome] = []

    def compute(current: dict[str, Any]) -> dict[str, Any] | None:
        current_status = current.get("status") or {}
        if (current_status.get("retraining") or {}).get("activeJob") != finished.job:
            return None  # already recorded
        try:
            current_spec = parse_spec(current.get("spec") or {})
        except InvalidSpecError:
            current_spec = spec
        outcome = rs.finish(
            current_status,
            current_spec,
            finished,
            generation=current["metadata"]["generation"],
            now=datetime.now(UTC),
        )
        result[:] = [outcome]
        return outcome.patch

    written = explainablemodels.update_status(meta["namespace"], meta["name"], compute)
    return result[0] if written is not None and result else None


def _job_state(job: Mapping[str, Any]) -> str | None:
    """Complete / Failed once the Job controller has decided, else None (still running)."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return None


def _failed_condition_message(job: Mapping[str, Any]) -> str:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
    return ""


def _termination_message(namespace: str, job: str, *, succeeded: bool) -> str | None:
    """The trainer container's termination message from the newest Pod in the matching phase."""
    wanted = "Succeeded" if succeeded else "Failed"
    for pod in reversed(jobs.job_pods(namespace, job)):
        pod_status = pod.get("status") or {}
        if pod_status.get("phase") != wanted:
            continue
        for container in pod_status.get("containerStatuses") or []:
            if container.get("name") != TRAINER_CONTAINER:
                continue
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated.get("message"):
                return str(terminated["message"])
    return None


def _post_event(body: Mapping[str, Any], outcome: rs.Outcome) -> None:
    if not get_settings().post_info_events:
        return
    if outcome.outcome == rs.OUTCOME_PROMOTED:
        kopf.event(dict(body), type="Normal", reason=outcome.reason, message=outcome.message)  # not level-filtered
    else:
        kopf.warn(dict(body), reason=outcome.reason, message=outcome.message)
