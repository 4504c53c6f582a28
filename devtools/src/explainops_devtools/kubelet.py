"""Plays the kubelet for Pods on the local control plane, which has none.

Pods created by the real Job controller never run here. These helpers move a Pod through
Running / Succeeded / Failed by writing ``pods/status`` the way a kubelet would (container
statuses with exit codes and an optional termination message), so the real Job controller then
completes or fails the Job. Every wait is bounded.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from explainops_devtools.controlplane import ControlPlaneError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, V1Job, V1Pod

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
# The kubelet keeps at most this much of a container's termination message.
TERMINATION_MESSAGE_LIMIT = 4096
TERMINAL_PHASES = ("Succeeded", "Failed")


class KubeletError(ControlPlaneError):
    """A Pod or Job did not reach the expected state in time."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _truncate(message: str) -> str:
    raw = message.encode()
    return (
        raw[:TERMINATION_MESSAGE_LIMIT].decode(errors="ignore")
        if len(raw) > TERMINATION_MESSAGE_LIMIT
        else message
    )


def _core(api_client: ApiClient) -> Any:
    from kubernetes.client import CoreV1Api

    return CoreV1Api(api_client)


def job_pods(api_client: ApiClient, namespace: str, job_name: str) -> list[V1Pod]:
    """Every Pod the Job controller created for the Job, oldest first."""
    pods = (
        _core(api_client).list_namespaced_pod(namespace, label_selector=f"{JOB_NAME_LABEL}={job_name}").items
    )
    return sorted(pods, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))


def wait_for_job_pod(
    api_client: ApiClient, namespace: str, job_name: str, timeout_seconds: float = 30.0
) -> V1Pod:
    """The oldest Pod of the Job that has not finished and is not being deleted."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        for pod in job_pods(api_client, namespace, job_name):
            if (
                pod.metadata.deletion_timestamp is None
                and (pod.status.phase or "Pending") not in TERMINAL_PHASES
            ):
                return pod
        if time.monotonic() > deadline:
            raise KubeletError(f"no live Pod for Job {namespace}/{job_name} after {timeout_seconds:.0f} s")
        time.sleep(0.1)


def set_pod_status(
    api_client: ApiClient,
    namespace: str,
    pod_name: str,
    phase: str,
    *,
    exit_code: int | None = None,
    message: str | None = None,
    reason: str | None = None,
    container: str | None = None,
) -> V1Pod:
    """Write a kubelet-like status: phase, conditions and one status per container.

    For Succeeded/Failed every container is terminated with ``exit_code`` (0 / 1 by default);
    ``message`` becomes ``state.terminated.message`` of ``container`` (default: the first one),
    truncated to 4096 bytes as the kubelet does.
    """
    if phase not in ("Pending", "Running", *TERMINAL_PHASES):
        raise ValueError(f"unknown Pod phase {phase!r}")
    core = _core(api_client)
    pod = core.read_namespaced_pod(pod_name, namespace)
    names = [c.name for c in pod.spec.containers]
    images = {c.name: c.image for c in pod.spec.containers}
    target = container or names[0]
    if target not in names:
        raise ValueError(f"Pod {namespace}/{pod_name} has no container {target!r} (has {names})")
    now = _now()
    started = pod.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if pod.status.start_time else now
    terminal = phase in TERMINAL_PHASES
    if terminal and exit_code is None:
        exit_code = 0 if phase == "Succeeded" else 1
    if phase == "Succeeded" and exit_code != 0:
        raise ValueError("a Succeeded Pod's containers exit with code 0")

    statuses = []
    for name in names:
        status: dict[str, Any] = {
            "name": name,
            "image": images[name],
            "imageID": "",
            "restartCount": 0,
            "ready": phase == "Running",
            "started": phase == "Running",
        }
        if phase == "Running":
            status["state"] = {"running": {"startedAt": started}}
        elif terminal:
            terminated: dict[str, Any] = {
                "exitCode": exit_code,
                "reason": reason or ("Completed" if exit_code == 0 else "Error"),
                "startedAt": started,
                "finishedAt": now,
            }
            if message is not None and name == target:
                terminated["message"] = _truncate(message)
            status["state"] = {"terminated": terminated}
        else:
            status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        statuses.append(status)

    ready = "True" if phase == "Running" else "False"
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
        {"type": "Initialized", "status": "True", "lastTransitionTime": started},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
        {"type": "Ready", "status": ready, "lastTransitionTime": now},
    ]
    if terminal:
        for condition in conditions[2:]:
            condition["reason"] = "PodCompleted"
    body = {
        "status": {
            "phase": phase,
            "startTime": started,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "conditions": conditions,
            "containerStatuses": statuses,
        }
    }
    return core.patch_namespaced_pod_status(
        pod_name, namespace, body, _content_type="application/merge-patch+json"
    )


def mark_pod_running(api_client: ApiClient, namespace: str, pod_name: str) -> V1Pod:
    """All containers running and ready."""
    return set_pod_status(api_client, namespace, pod_name, "Running")


def mark_pod_succeeded(
    api_client: ApiClient,
    namespace: str,
    pod_name: str,
    *,
    message: str | None = None,
    container: str | None = None,
) -> V1Pod:
    """All containers exited 0; ``message`` is the termination message of ``container``."""
    return set_pod_status(
        api_client, namespace, pod_name, "Succeeded", exit_code=0, message=message, container=container
    )


def mark_pod_failed(
    api_client: ApiClient,
    namespace: str,
    pod_name: str,
    *,
    exit_code: int = 1,
    message: str | None = None,
    reason: str = "Error",
    container: str | None = None,
) -> V1Pod:
    """All containers exited with ``exit_code``; ``message`` is the termination message of ``container``."""
    return set_pod_status(
        api_client,
        namespace,
        pod_name,
        "Failed",
        exit_code=exit_code,
        message=message,
        reason=reason,
        container=container,
    )


def succeed_job_pod(
    api_client: ApiClient,
    namespace: str,
    job_name: str,
    *,
    message: str | None = None,
    container: str | None = None,
    timeout_seconds: float = 30.0,
) -> V1Pod:
    """Wait for the Job's live Pod and let it succeed (what a finished container looks like)."""
    pod = wait_for_job_pod(api_client, namespace, job_name, timeout_seconds)
    return mark_pod_succeeded(api_client, namespace, pod.metadata.name, message=message, container=container)


def fail_job_pod(
    api_client: ApiClient,
    namespace: str,
    job_name: str,
    *,
    exit_code: int = 1,
    message: str | None = None,
    container: str | None = None,
    timeout_seconds: float = 30.0,
) -> V1Pod:
    """Wait for the Job's live Pod and let it fail with ``exit_code``."""
    pod = wait_for_job_pod(api_client, namespace, job_name, timeout_seconds)
    return mark_pod_failed(
        api_client, namespace, pod.metadata.name, exit_code=exit_code, message=message, container=container
    )


def job_condition(job: V1Job, condition_type: str) -> Any | None:
    """The Job's condition of that type when its status is True, else None."""
    for condition in (job.status and job.status.conditions) or []:
        if condition.type == condition_type and condition.status == "True":
            return condition
    return None


def wait_for_job_condition(
    api_client: ApiClient,
    namespace: str,
    job_name: str,
    condition_type: str = "Complete",
    timeout_seconds: float = 60.0,
) -> V1Job:
    """Block until the Job has ``condition_type`` (Complete, Failed, SuccessCriteriaMet, FailureTarget, Suspended).

    Fails early when the Job reached the other terminal condition (waiting for Complete, got Failed).
    """
    from kubernetes.client import BatchV1Api

    batch = BatchV1Api(api_client)
    opposite = {"Complete": "Failed", "Failed": "Complete"}.get(condition_type)
    deadline = time.monotonic() + timeout_seconds
    while True:
        job = batch.read_namespaced_job(job_name, namespace)
        if job_condition(job, condition_type) is not None:
            return job
        if opposite and (other := job_condition(job, opposite)) is not None:
            raise KubeletError(
                f"Job {namespace}/{job_name} is {opposite} ({other.reason}: {other.message}), not {condition_type}"
            )
        if time.monotonic() > deadline:
            conditions = [(c.type, c.status, c.reason) for c in (job.status.conditions or [])]
            raise KubeletError(
                f"Job {namespace}/{job_name} has no {condition_type} condition after {timeout_seconds:.0f} s "
                f"(conditions {conditions}, active {job.status.active}, succeeded {job.status.succeeded}, "
                f"failed {job.status.failed})"
            )
        time.sleep(0.1)
