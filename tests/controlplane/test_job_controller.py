"""The real Job controller creates Pods; the kubelet helper finishes them; the Job follows."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import BatchV1Api, CoreV1Api

from explainops_devtools.kubelet import (
    fail_job_pod,
    job_pods,
    mark_pod_running,
    succeed_job_pod,
    wait_for_job_condition,
    wait_for_job_pod,
)

pytestmark = pytest.mark.cluster


def _job(name: str, backoff_limit: int = 0) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"explainops.dev/model": "breast-cancer"}},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "ghcr.io/explainops/explainops-server:0.1.0",
                            "args": ["train", "--model-name", "breast-cancer"],
                            "terminationMessagePolicy": "File",
                        }
                    ],
                }
            },
        },
    }


def test_job_gets_a_pod_from_the_job_controller_and_completes(kube_api, namespace):
    job = BatchV1Api(kube_api).create_namespaced_job(namespace, _job("train-1"))

    pod = wait_for_job_pod(kube_api, namespace, "train-1")
    (owner,) = pod.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Job", "train-1", job.metadata.uid, True)
    assert pod.status.phase == "Pending"  # no kubelet: nothing runs it until the helper says so

    running = mark_pod_running(kube_api, namespace, pod.metadata.name)
    assert running.status.phase == "Running"
    result = {"version": "v2", "candidate": {"holdoutAccuracy": 0.95}}
    succeed_job_pod(kube_api, namespace, "train-1", message=json.dumps(result))

    done = wait_for_job_condition(kube_api, namespace, "train-1", "Complete", timeout_seconds=60)
    assert done.status.succeeded == 1
    assert done.status.completion_time is not None
    (finished,) = job_pods(kube_api, namespace, "train-1")
    terminated = finished.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, json.loads(terminated.message)) == (0, result)


def test_job_fails_when_its_pod_fails_past_the_backoff_limit(kube_api, namespace):
    BatchV1Api(kube_api).create_namespaced_job(namespace, _job("train-2", backoff_limit=0))

    fail_job_pod(kube_api, namespace, "train-2", exit_code=3, message="holdout data missing")

    failed = wait_for_job_condition(kube_api, namespace, "train-2", "Failed", timeout_seconds=60)
    reasons = {c.type: c.reason for c in failed.status.conditions if c.status == "True"}
    assert reasons["Failed"] == "BackoffLimitExceeded"
    (pod,) = job_pods(kube_api, namespace, "train-2")
    terminated = (
        CoreV1Api(kube_api).read_namespaced_pod(pod.metadata.name, namespace).status.container_statuses[0]
    )
    assert (terminated.state.terminated.exit_code, terminated.state.terminated.message) == (
        3,
        "holdout data missing",
    )
