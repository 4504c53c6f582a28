"""The chart's operator pod killed in the middle of a retraining, on the real node: the Deployment
restarts it, and the run still ends with exactly one Job and one recorded outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from kubernetes import client
from node_release import (
    READY_SECONDS,
    condition,
    create_xm,
    example_rows,
    get_xm,
    model_events,
    operator_pods,
    predict,
    ready_operator_pod,
    send_labels,
    served_model,
    service_url,
    wait_for,
    wait_ready,
)

from explainops_devtools.example_volume import create_model_volume
from explainops_operator.jobs import SEQUENCE_LABEL
from explainops_operator.retraining_status import OUTCOME_PROMOTED

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]

MODEL = "bc"
LABELLED = 24
JOB_SECONDS = 120.0  # the trainer pod: start, load, fit, refit (21-35 s measured on this machine)
OUTCOME_SECONDS = 300.0


def test_killing_the_operator_pod_mid_retraining_leaves_one_job_and_one_outcome(
    operator_release, kube_api, namespace: str
) -> None:
    release = operator_release(namespace)
    storage = create_model_volume(kube_api, namespace, n_estimators=10)
    # Low thresholds, so that the wrong labels below cross them at once; a long cooldown and backoff,
    # so that whatever the outcome, no second trigger can follow within the test.
    create_xm(kube_api, namespace, served_model(
        MODEL, storage,
        feedback={"store": "sqlite", "window": 100, "thresholds": {"minLabelled": 20, "maxErrorRate": 0.2}},
        retraining={"enabled": True, "cooldownSeconds": 3600, "failureBackoffSeconds": 3600,
                    "gate": {"metric": "holdoutAccuracy", "minImprovement": 0.0}},
    ))
    xm = wait_ready(kube_api, namespace, MODEL, READY_SECONDS)
    base = service_url(kube_api, xm)

    with httpx.Client(timeout=60) as http:
        answer = predict(http, base, MODEL, example_rows(LABELLED))
        # Every label contradicts the model: the error rate is 1.0 > 0.2 once 20 are labelled.
        send_labels(http, base, MODEL, answer["prediction_ids"], [1 - int(p) for p in answer["predictions"]])

    batch = client.BatchV1Api(kube_api)
    job_name = f"{MODEL}-retrain-1"

    def job_running() -> Any:
        try:
            job = batch.read_namespaced_job(job_name, namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return job if (job.status.active or 0) >= 1 else None

    wait_for(job_running, f"the retraining Job {job_name} running", JOB_SECONDS)
    (killed,) = operator_pods(kube_api, namespace, release)
    client.CoreV1Api(kube_api).delete_namespaced_pod(killed.metadata.name, namespace, grace_period_seconds=0)
    # Mid-retraining: the Job had not finished when its operator went.
    job = batch.read_namespaced_job(job_name, namespace)
    assert not any(c.type in ("Complete", "Failed") and c.status == "True" for c in job.status.conditions or [])

    restarted = ready_operator_pod(kube_api, namespace, release)
    assert restarted.metadata.name != killed.metadata.name

    def outcome() -> dict[str, Any] | None:
        status = (get_xm(kube_api, namespace, MODEL) or {}).get("status") or {}
        retraining = status.get("retraining") or {}
        last = retraining.get("lastResult") or {}
        return status if last.get("job") == job_name and not retraining.get("activeJob") else None

    status = wait_for(outcome, f"the outcome of {job_name} recorded", OUTCOME_SECONDS)
    last = status["retraining"]["lastResult"]
    reason = condition({"status": status}, "Retraining")["reason"]
    assert status["retraining"]["sequence"] == 1

    jobs = batch.list_namespaced_job(namespace, label_selector=SEQUENCE_LABEL).items
    assert [(j.metadata.name, j.metadata.uid) for j in jobs] == [(job_name, job.metadata.uid)]  # never re-created
    promotions = [h for h in status.get("history") or [] if h.get("job") == job_name]
    assert len(promotions) == (1 if last["outcome"] == OUTCOME_PROMOTED else 0)
    # One Event for the outcome (the Retraining condition's reason), posted once, not once per pod.

    def outcome_events() -> list[Any]:
        return [e for e in model_events(kube_api, namespace, MODEL) if e.reason == reason]

    events = wait_for(outcome_events, f"the {reason} Event", 30)
    assert sum(e.count or 1 for e in events) == 1, [(e.reason, e.message, e.count) for e in events]
    assert last["candidateVersion"] in events[0].message
