"""Retraining Jobs and their Pods: create (409 = already created), read, list. Dicts in, dicts out."""

from __future__ import annotations

import base64
from typing import Any

from kubernetes import client

from explainops_operator.builders import LABEL_MODEL, MANAGER
from explainops_operator.errors import ConflictError, NotFoundError
from explainops_operator.kube.client import api_client
from explainops_operator.kube.errors import api_call
from explainops_operator.settings import get_settings

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def _batch() -> client.BatchV1Api:
    return client.BatchV1Api(api_client())


def _core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def _as_dict(obj: Any) -> dict[str, Any]:
    return api_client().sanitize_for_serialization(obj)


def _timeout() -> float:
    return get_settings().api_timeout_seconds


def create_job(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create the Job; if one of that name exists already, return it. Returns (job, created)."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    try:
        created = api_call(
            lambda: _batch().create_namespaced_job(
                namespace, body, field_manager=MANAGER, _request_timeout=_timeout()
            )
        )
        return _as_dict(created), True
    except ConflictError:
        existing = get_job(namespace, name)
        if existing is None:  # deleted between the 409 and the read: the next tick creates it
            raise
        return existing, False


def get_job(namespace: str, name: str) -> dict[str, Any] | None:
    try:
        job = api_call(lambda: _batch().read_namespaced_job(name, namespace, _request_timeout=_timeout()))
    except NotFoundError:
        return None
    return _as_dict(job)


def list_jobs(namespace: str, model_name: str) -> list[dict[str, Any]]:
    """Every Job labelled for this ExplainableModel (retraining Jobs)."""
    jobs = api_call(
        lambda: _batch().list_namespaced_job(
            namespace, label_selector=f"{LABEL_MODEL}={model_name}", _request_timeout=_timeout()
        )
    )
    return [_as_dict(job) for job in jobs.items]


def job_pods(namespace: str, job_name: str) -> list[dict[str, Any]]:
    """The Job's Pods, oldest first."""
    pods = api_call(
        lambda: _core().list_namespaced_pod(
            namespace, label_selector=f"{JOB_NAME_LABEL}={job_name}", _request_timeout=_timeout()
        )
    )
    items = [_as_dict(pod) for pod in pods.items]
    return sorted(items, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))


def read_secret_key(namespace: str, name: str, key: str) -> str | None:
    """One key of a Secret, decoded; None if the Secret or the key is missing."""
    try:
        secret = api_call(
            lambda: _core().read_namespaced_secret(name, namespace, _request_timeout=_timeout())
        )
    except NotFoundError:
        return None
    raw = (secret.data or {}).get(key)
    return base64.b64decode(raw).decode().strip() if raw else None
