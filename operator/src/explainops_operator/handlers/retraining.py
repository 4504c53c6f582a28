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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from explainops_operator import retraining_status as rs
from explainops_operator.conditions import utc_timestamp
from explainops_operator.errors import InvalidSpecError
from explainops_operator.handlers.common import ModelEvent, kopf_errors, parse_event
from explainops_operator.jobs import (
    BASE_VERSION_ANNOTATION,
    CANDIDATE_VERSION_ANNOTATION,
    TRAINER_CONTAINER,
    TRIGGER_REASON_ANNOTATION,
    build_retraining_job,
    job_name,
    training_run,
)
from explainops_operator.kube import explainablemodels, jobs
from explainops_operator.policy import (
    NO_STATS,
    RetrainingPolicy,
    decide,
)
from explainops_operator.settings import get_settings
from explainops_operator.spec import GROUP, PLURAL, VERSION, ExplainableModelSpec, served_version
from explainops_operator.stats_client import StatsUnavailable, feedback_status, fetch_stats, figures_for

# status.feedback.observedAt is refreshed at least this often even when the figures do not change.
FEEDBACK_REFRESH_SECONDS = 60.0


# The interval is read from the settings when this module is imported, i.e. when the operator starts.
@kopf.timer(GROUP, VERSION, PLURAL, interval=get_settings().retraining_interval_seconds, sharp=False)
@kopf_errors
def retraining_tick(body: kopf.Body, logger: logging.Logger, **_: Any) -> None:
    reconcile_retraining(dict(body), logger)


def reconcile_retraining(body: Mapping[str, Any], logger: logging.Logger) -> None:
    if body["metadata"].get("deletionTimestamp"):
        return
    try:
        event = parse_event(body)
    except InvalidSpecError:
        return  # Ready=False InvalidSpec is reported by the serving handler
    active = (event.status.get("retraining") or {}).get("activeJob")
    if active:
        _follow_job(body, event, active, logger)
    else:
        _consider_trigger(body, event, logger)


# --------------------------------------------------------------------------- trigger


def _consider_trigger(body: Mapping[str, Any], event: ModelEvent, logger: logging.Logger) -> None:
    spec, status = event.spec, event.status
    namespace, name = event.owner.namespace, event.owner.name
    served = served_version(spec, status)
    stats = _read_stats(body, spec, logger)  # mirrored into status.feedback even when retraining is off
    figures = figures_for(stats, served) if stats is not None else None
    if stats is not None:
        _mirror_feedback(namespace, name, status, feedback_status(stats, served))

    now = datetime.now(UTC)
    decision = decide(RetrainingPolicy.from_spec(spec), rs.retraining_state(status), figures, served, now)
    if not decision.retrain:
        reason, message = decision.reason, decision.message
        address = _stats_address(status)
        if decision.reason == NO_STATS and stats is None and address:
            reason, message = rs.STATS_UNAVAILABLE, f"cannot read feedback stats from {address}"

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
    _ensure_job(recorded, event, job, logger)


def _stats_address(status: Mapping[str, Any]) -> str | None:
    """The cluster-local address (status.address.url). status.url is KServe's external host
    ({name}-{namespace}.{ingress domain}), which the operator's pod usually cannot reach."""
    url = (status.get("address") or {}).get("url")
    return str(url) if url else None


def _read_stats(body: Mapping[str, Any], spec: ExplainableModelSpec, logger: logging.Logger) -> dict | None:
    url = _stats_address(body.get("status") or {})
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


def _ensure_job(body: Mapping[str, Any], event: ModelEvent, job: str, logger: logging.Logger) -> None:
    """Create the recorded Job (same name and arguments on every call; 409 means it exists)."""
    status = body.get("status") or {}
    retraining = status.get("retraining") or {}
    sequence = rs.sequence_of(status)
    settings = get_settings()
    spec = event.spec
    run = training_run(
        event.owner,
        spec,
        sequence=sequence,
        base_version=served_version(spec, status),
        default_image=settings.server_image,
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
        _finish(body, event, failed)
        return
    _, created = jobs.create_job(manifest)
    if created:
        logger.info(f"created Job {job}: {run.base_version} -> {run.candidate_version}")


def _follow_job(body: Mapping[str, Any], event: ModelEvent, job: str, logger: logging.Logger) -> None:
    namespace = event.owner.namespace
    live = jobs.get_job(namespace, job)
    if live is None:
        # Recorded but not created (the operator stopped in between): create it now.
        _ensure_job(body, event, job, logger)
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
    outcome = _finish(body, event, finished)
    if outcome is not None:
        logger.info(
            f"retraining Job {job} finished: {outcome.outcome} ({outcome.reason}) - {outcome.message}"
        )
        _post_event(body, outcome)


def _finish(body: Mapping[str, Any], event: ModelEvent, finished: rs.FinishedJob) -> rs.Outcome | None:
    meta = body["metadata"]
    result: list[rs.Outcome] = []

    def compute(current: dict[str, Any]) -> dict[str, Any] | None:
        current_status = current.get("status") or {}
        if (current_status.get("retraining") or {}).get("activeJob") != finished.job:
            return None  # already recorded
        try:
            current_spec = event.spec_of(current)
        except InvalidSpecError:
            current_spec = event.spec
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
