"""conditions: pure status helpers, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from explainops_operator import conditions as c
from explainops_operator.conditions import Reason

T0 = datetime(2026, 11, 28, 2, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)


def test_set_condition_adds_and_keeps_others() -> None:
    first = c.set_condition(None, c.RETRAINING, c.FALSE, "Idle", "no run", 1, now=T0)
    both = c.set_condition(first, c.READY, c.TRUE, Reason.SERVING, "ok", 1, now=T0)
    assert [x["type"] for x in both] == [c.RETRAINING, c.READY]
    assert both[1] == {"type": "Ready", "status": "True", "reason": "Serving", "message": "ok",
                       "lastTransitionTime": "2026-11-28T02:00:00Z", "observedGeneration": 1}
    assert first == [both[0]]  # input untouched


def test_transition_time_moves_only_when_status_changes() -> None:
    start = c.set_condition(None, c.READY, c.FALSE, Reason.PROGRESSING, "a", 1, now=T0)
    same_status = c.set_condition(start, c.READY, c.FALSE, Reason.INFERENCE_SERVICE_PENDING, "b", 2, now=T1)
    assert same_status[0]["lastTransitionTime"] == "2026-11-28T02:00:00Z"
    assert (same_status[0]["reason"], same_status[0]["observedGeneration"]) == ("InferenceServicePending", 2)
    flipped = c.set_condition(same_status, c.READY, c.TRUE, Reason.SERVING, "c", 2, now=T1)
    assert flipped[0]["lastTransitionTime"] == "2026-11-28T03:00:00Z"


def test_unchanged_condition_gives_no_patch() -> None:
    status = {"conditions": c.set_condition(None, c.READY, c.TRUE, Reason.SERVING, "ok", 3, now=T0)}
    again = c.set_condition(status["conditions"], c.READY, c.TRUE, Reason.SERVING, "ok", 3, now=T1)
    assert c.status_patch(status, {"conditions": again}) is None


def test_status_patch_only_changed_fields() -> None:
    current = {"modelVersion": "v1", "url": "http://a", "history": [1]}
    assert c.status_patch(current, {"modelVersion": "v1", "url": "http://b"}) == {"url": "http://b"}
    assert c.status_patch(None, {"modelVersion": "v1"}) == {"modelVersion": "v1"}


def test_rejects_bad_status_value() -> None:
    with pytest.raises(ValueError):
        c.set_condition(None, c.READY, "Yes", Reason.SERVING, "", 1)


def inference_service(
    *, generation: int = 1, observed: int | None = 1, ready: str | None = "True", message: str = "",
    url: str | None = "http://bc.ml.example.com",
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if observed is not None:
        status["observedGeneration"] = observed
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "message": message}]
    if url is not None:
        status["url"] = url
    return {"metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize(
    ("live", "rendered", "is_ready", "ready", "reason", "observed"),
    [
        (inference_service(), True, "True", "True", Reason.SERVING, 4),
        (inference_service(), False, "True", "False", Reason.PROGRESSING, None),
        (None, True, "False", "False", Reason.INFERENCE_SERVICE_MISSING, 4),
        (inference_service(ready=None, url=None, observed=None), True, "Unknown", "False",
         Reason.INFERENCE_SERVICE_PENDING, 4),
        # KServe copies observedGeneration from the Deployment: a lower number says nothing about readiness.
        (inference_service(generation=2, observed=1), True, "True", "True", Reason.SERVING, 4),
        (inference_service(generation=1, observed=7), True, "True", "True", Reason.SERVING, 4),
        (inference_service(ready="False", message="image pull backoff"), True, "False", "False",
         Reason.INFERENCE_SERVICE_NOT_READY, 4),
    ],
    ids=["ready", "not-yet-rendered", "missing", "no-status", "deployment-generation-lower",
         "deployment-generation-higher", "not-ready"],
)
def test_serving_status(
    live: dict[str, Any] | None, rendered: bool, is_ready: str, ready: str, reason: str, observed: int | None
) -> None:
    out = c.serving_status({"observedGeneration": 3}, generation=4, model_version="v2", inference_service=live,
                           rendered_current=rendered, now=T0)
    assert c.condition_status(out["conditions"], c.INFERENCE_SERVICE_READY) == is_ready
    got = c.get_condition(out["conditions"], c.READY)
    assert got is not None
    assert (got["status"], got["reason"], got["observedGeneration"]) == (ready, reason, 4)
    assert out["modelVersion"] == "v2"
    assert out.get("observedGeneration") == observed
    if live is not None and live["status"].get("url"):
        assert out["url"] == "http://bc.ml.example.com"


def test_not_ready_message_carries_kserve_detail() -> None:
    out = c.serving_status(None, generation=1, model_version="v1",
                           inference_service=inference_service(ready="False", message="image pull backoff"),
                           rendered_current=True, now=T0)
    ready = c.get_condition(out["conditions"], c.READY)
    assert ready is not None and "image pull backoff" in ready["message"]


def test_a_serving_container_that_stops_at_start_is_named_with_its_message() -> None:
    live = inference_service(ready="False", message="MinimumReplicasUnavailable")
    problem = "spec.explainer.type: TreeShap needs a tree ensemble; this model is Pipeline(StandardScaler, LogisticRegression)"
    live["status"]["modelStatus"] = {"transitionStatus": "BlockedByFailedLoad", "lastFailureInfo": {
        "reason": "ModelLoadFailed", "exitCode": 3, "message": f"explainops-server: cannot start\n{problem}\n"}}
    out = c.serving_status(None, generation=1, model_version="v1", inference_service=live, rendered_current=True,
                           now=T0)
    ready = c.get_condition(out["conditions"], c.READY)
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", Reason.MODEL_LOAD_FAILED)
    assert problem in ready["message"] and "exit code 3" in ready["message"]
    live["status"]["modelStatus"]["lastFailureInfo"]["message"] = "x" * 5000  # a long log tail is cut
    assert len(c.inference_service_readiness(live)[2]) < 1200
    live["status"]["conditions"][0]["status"] = "True"  # a recovered model: the old failure no longer counts
    assert c.inference_service_readiness(live)[0] == "True"


def test_the_serving_containers_own_termination_message_is_found_in_its_pods() -> None:
    crashed = {"status": {"containerStatuses": [
        {"name": "explainer", "state": {"running": {}}},
        {"name": "kserve-container", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 3, "message": "explainops-server: cannot start: no v9\n"}}},
    ]}}
    assert c.serving_container_failure([crashed]) == (
        "the serving container stopped at start (exit code 3): explainops-server: cannot start: no v9")
    running = {"status": {"containerStatuses": [{"name": "kserve-container", "state": {"running": {}}}]}}
    assert c.serving_container_failure([running]) is None
    finished_cleanly = {"status": {"containerStatuses": [
        {"name": "kserve-container", "state": {"terminated": {"exitCode": 0, "message": "bye"}}}]}}
    assert c.serving_container_failure([finished_cleanly, {"status": {}}]) is None
    live = inference_service(ready="False", message="MinimumReplicasUnavailable")
    out = c.serving_status(None, generation=1, model_version="v9", inference_service=live, rendered_current=True,
                           start_failure=c.serving_container_failure([crashed]), now=T0)
    ready = c.get_condition(out["conditions"], c.READY)
    assert ready is not None and ready["reason"] == Reason.MODEL_LOAD_FAILED and "no v9" in ready["message"]


def test_invalid_spec_status_names_the_field() -> None:
    out = c.invalid_spec_status(None, generation=2, message="spec.model.trustPickle: must be true", now=T0)
    ready = c.get_condition(out["conditions"], c.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"].startswith("spec.model.trustPickle")
    assert out["observedGeneration"] == 2


def test_serving_status_keeps_foreign_conditions() -> None:
    current = {"conditions": c.set_condition(None, c.RETRAINING, c.TRUE, "JobRunning", "job x", 1, now=T0)}
    out = c.serving_status(current, generation=1, model_version="v1", inference_service=inference_service(),
                           rendered_current=True, now=T1)
    assert c.condition_status(out["conditions"], c.RETRAINING) == "True"


def test_rollout_in_progress_is_pending_until_the_latest_revision_is_ready() -> None:
    live = inference_service()
    live["status"]["components"] = {"predictor": {"latestCreatedRevision": "bc-predictor-00002",
                                                  "latestReadyRevision": "bc-predictor-00001"}}
    status, reason, message = c.inference_service_readiness(live)
    assert (status, reason) == ("Unknown", Reason.INFERENCE_SERVICE_PENDING)
    assert "bc-predictor-00002" in message
    live["status"]["components"]["predictor"]["latestReadyRevision"] = "bc-predictor-00002"
    assert c.inference_service_readiness(live)[0] == "True"


def test_not_ready_names_the_failing_component_and_the_requirement() -> None:
    live = inference_service(ready="False")
    live["status"]["conditions"].append({"type": "PredictorReady", "status": "False",
                                         "message": "Persistent volume claim support is disabled"})
    out = c.serving_status(None, generation=1, model_version="v1", inference_service=live, rendered_current=True,
                           requirement="Knative needs kubernetes.podspec-persistent-volume-claim", now=T0)
    message = c.get_condition(out["conditions"], c.READY)["message"]
    assert "PredictorReady: Persistent volume claim support is disabled" in message
    assert "kubernetes.podspec-persistent-volume-claim" in message
    ready = c.serving_status(None, generation=1, model_version="v1", inference_service=inference_service(),
                             rendered_current=True, requirement="Knative needs a flag", now=T0)
    assert "flag" not in c.get_condition(ready["conditions"], c.READY)["message"]


def test_cluster_local_address_is_mirrored() -> None:
    live = inference_service()
    live["status"]["address"] = {"url": "http://bc-predictor.ml.svc.cluster.local"}
    out = c.serving_status(None, generation=1, model_version="v1", inference_service=live, rendered_current=True)
    assert out["url"] == "http://bc-predictor.ml.svc.cluster.local"
    assert out["address"] == {"url": "http://bc-predictor.ml.svc.cluster.local"}


def test_the_cluster_local_address_wins_over_the_external_url() -> None:
    from explainops_operator.conditions import inference_service_url

    status = {"url": "http://bc-ns.example.com", "address": {"url": "http://bc-predictor.ns.svc.cluster.local"}}
    assert inference_service_url(status) == "http://bc-predictor.ns.svc.cluster.local"
    assert inference_service_url({"url": "http://only-external"}) == "http://only-external"
