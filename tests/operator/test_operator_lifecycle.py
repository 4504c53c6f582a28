"""The operator run for real (KopfRunner) against the real node: KServe reconciles what it renders."""

from __future__ import annotations

import time
from typing import Any

import pytest
from xm_cluster import READY_SECONDS, Cluster, wait_for
from xm_samples import BASE_SPEC, manifest, spec, with_field

from explainops_operator.builders import EXPLAINER_CONTAINER, LABEL_MODEL, PREDICTOR_CONTAINER
from explainops_operator.conditions import get_condition

pytestmark = pytest.mark.cluster

# Served for real: KServe runs the pods from the volume provide_model() fills.
SERVED_SPEC = with_field("model.storageUri", "pvc://models/breast-cancer")


def containers(inference_service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in inference_service["spec"]["predictor"]["containers"]}


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def condition(xm: dict[str, Any] | None, condition_type: str) -> dict[str, Any]:
    return dict(get_condition(((xm or {}).get("status") or {}).get("conditions"), condition_type) or {})


def ready_at(cluster: Cluster, name: str, generation: int) -> dict[str, Any] | None:
    xm = cluster.get_xm(name)
    ready = condition(xm, "Ready")
    if xm and ready.get("status") == "True" and ready.get("observedGeneration") == generation:
        return xm
    return None


def test_apply_renders_the_inference_service(cluster: Cluster, run_operator: Any) -> None:
    with run_operator():
        cluster.create_xm(manifest("bc", spec(explainer={"type": "KernelShap", "params": {"nsamples": 200}})))
        isvc = wait_for(lambda: cluster.get_is("bc"), "the InferenceService")
        xm = cluster.get_xm("bc")
        assert xm is not None
        # Adopted, labelled, accepted by KServe's real schema (the API server validated it on create).
        assert isvc["metadata"]["ownerReferences"][0]["uid"] == xm["metadata"]["uid"]
        assert isvc["metadata"]["ownerReferences"][0]["controller"] is True
        assert isvc["metadata"]["labels"][LABEL_MODEL] == "bc"
        found = containers(isvc)
        assert flag(found[PREDICTOR_CONTAINER]["args"], "--role") == "predictor"
        assert flag(found[EXPLAINER_CONTAINER]["args"], "--role") == "explainer"
        assert flag(found[EXPLAINER_CONTAINER]["args"], "--explainer") == "kernel_shap"
        assert flag(found[EXPLAINER_CONTAINER]["args"], "--model-uri").endswith("/breast-cancer/v1")
        assert flag(found[PREDICTOR_CONTAINER]["args"], "--model-uri").endswith("/breast-cancer/v1")
        # Until KServe reports readiness, the status says so truthfully: Unknown before KServe has a
        # status, False once it reports the predictor not ready (this model's files are not on the node).
        pending = wait_for(lambda: condition(cluster.get_xm("bc"), "InferenceServiceReady"), "a condition")
        assert pending["status"] in ("Unknown", "False")
        assert condition(cluster.get_xm("bc"), "Ready")["status"] == "False"


def test_inference_service_ready_makes_the_model_ready(cluster: Cluster, run_operator: Any) -> None:
    with run_operator():
        cluster.provide_model()
        cluster.create_xm(manifest("bc", SERVED_SPEC))
        wait_for(lambda: cluster.get_is("bc"), "the InferenceService")
        xm = wait_for(lambda: ready_at(cluster, "bc", 1), "Ready=True at generation 1", READY_SECONDS)
        assert xm["status"]["observedGeneration"] == 1
        # KServe's cluster-local address, not its external host.
        assert xm["status"]["url"] == f"http://bc-predictor.{cluster.namespace}.svc.cluster.local"
        assert xm["status"]["modelVersion"] == "v1"
        assert condition(xm, "InferenceServiceReady")["status"] == "True"

        # A spec change: not Ready for generation 2 until KServe has observed the patched InferenceService.
        cluster.patch_xm("bc", {"spec": {"explainer": {"timeoutSeconds": 45}}})
        wait_for(lambda: condition(cluster.get_xm("bc"), "Ready").get("observedGeneration") == 2, "generation 2")
        xm = wait_for(lambda: ready_at(cluster, "bc", 2), "Ready=True at generation 2", READY_SECONDS)
        assert xm["status"]["observedGeneration"] == 2


def test_spec_update_patches_in_place(cluster: Cluster, run_operator: Any) -> None:
    with run_operator():
        cluster.create_xm(manifest("bc", BASE_SPEC))
        first = wait_for(lambda: cluster.get_is("bc"), "the InferenceService")
        cluster.patch_xm("bc", {"spec": {
            "explainer": {"timeoutSeconds": 45, "workers": 3},
            "serving": {"resources": {"requests": {"cpu": "500m", "memory": None}, "limits": {"memory": "2Gi"}}},
        }})

        def updated() -> dict[str, Any] | None:
            isvc = cluster.get_is("bc")
            if isvc and flag(containers(isvc)[EXPLAINER_CONTAINER]["args"], "--explain-timeout") == "45":
                return isvc
            return None

        second = wait_for(updated, "the patched InferenceService")
        assert second["metadata"]["uid"] == first["metadata"]["uid"]  # patched, not recreated
        assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1
        explainer = containers(second)[EXPLAINER_CONTAINER]
        assert flag(explainer["args"], "--explain-workers") == "3"
        serving = containers(second)[PREDICTOR_CONTAINER]
        # Fields no longer rendered are removed (server-side apply), not left behind.
        # cpu/memory requests and limits are always explicit: the memory request no longer given is derived
        # from its limit (not the old 512Mi left behind), the cpu limit is KServe's default.
        assert serving["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi"},
                                          "limits": {"memory": "2Gi", "cpu": "1"}}


def test_served_version_follows_pin_and_promotion(cluster: Cluster, run_operator: Any) -> None:
    def serving(version: str) -> dict[str, Any] | None:
        isvc = cluster.get_is("bc")
        if isvc and flag(containers(isvc)[EXPLAINER_CONTAINER]["args"], "--model-uri").endswith(f"/{version}"):
            return isvc
        return None

    with run_operator():
        cluster.create_xm(manifest("bc", BASE_SPEC))
        first = wait_for(lambda: serving("v1"), "v1 served")
        # A promotion, as the retraining loop writes it.
        cluster.patch_xm_status("bc", {"modelVersion": "v2"})
        promoted = wait_for(lambda: serving("v2"), "v2 served after promotion")
        assert promoted["metadata"]["uid"] == first["metadata"]["uid"]
        assert promoted["metadata"]["labels"]["explainops.dev/model-version"] == "v2"
        # Rollback by pinning.
        cluster.patch_xm("bc", {"spec": {"model": {"pinnedVersion": "v1"}}})
        wait_for(lambda: serving("v1"), "v1 served when pinned")
        wait_for(lambda: (cluster.get_xm("bc") or {}).get("status", {}).get("modelVersion") == "v1", "status v1")
        # A promotion while pinned changes nothing served: the pin wins and status.modelVersion says so.
        cluster.patch_xm_status("bc", {"modelVersion": "v3"})
        wait_for(lambda: (cluster.get_xm("bc") or {}).get("status", {}).get("modelVersion") == "v1", "pin wins")
        assert serving("v1")
        # Unpinned, the next promotion is served again.
        cluster.patch_xm("bc", {"spec": {"model": {"pinnedVersion": None}}})
        cluster.patch_xm_status("bc", {"modelVersion": "v4"})
        final = wait_for(lambda: serving("v4"), "v4 served after unpinning and a promotion")
        assert final["metadata"]["uid"] == first["metadata"]["uid"]


def test_delete_collects_the_inference_service(cluster: Cluster, run_operator: Any) -> None:
    with run_operator():
        cluster.create_xm(manifest("bc", BASE_SPEC))
        wait_for(lambda: cluster.get_is("bc"), "the InferenceService")
        cluster.delete_xm("bc")
        wait_for(lambda: cluster.get_xm("bc") is None, "the ExplainableModel to go")
        wait_for(lambda: cluster.get_is("bc") is None, "garbage collection of the InferenceService", timeout=60)


def test_out_of_band_delete_is_repaired(cluster: Cluster, run_operator: Any) -> None:
    with run_operator():
        cluster.create_xm(manifest("bc", BASE_SPEC))
        original = wait_for(lambda: cluster.get_is("bc"), "the InferenceService")
        cluster.delete_is("bc")

        def recreated() -> dict[str, Any] | None:
            isvc = cluster.get_is("bc")
            return isvc if isvc and isvc["metadata"]["uid"] != original["metadata"]["uid"] else None

        wait_for(recreated, "the recreated InferenceService")
        assert len(cluster.list_is()) == 1


def test_restart_makes_no_duplicates_and_no_writes(cluster: Cluster, run_operator: Any) -> None:
    with run_operator():
        cluster.provide_model()
        cluster.create_xm(manifest("bc", SERVED_SPEC))
        wait_for(lambda: ready_at(cluster, "bc", 1), "Ready=True", READY_SECONDS)
        time.sleep(1.0)  # let the handlers' trailing annotation writes land before measuring
    before_xm, before_is = cluster.get_xm("bc"), cluster.get_is("bc")
    assert before_xm is not None and before_is is not None

    with run_operator() as runner:
        # A canary created after the restart: once it is served and Ready, the operator has gone
        # through its start-up listing, which resumed "bc".
        cluster.create_xm(manifest("canary", SERVED_SPEC))
        wait_for(lambda: ready_at(cluster, "canary", 1), "the canary Ready", READY_SECONDS)
        time.sleep(1.0)
    assert "bc" in runner.output and "Handler 'serve' succeeded" in runner.output

    after_xm, after_is = cluster.get_xm("bc"), cluster.get_is("bc")
    assert after_xm is not None and after_is is not None
    assert after_xm["metadata"]["resourceVersion"] == before_xm["metadata"]["resourceVersion"], "spurious write"
    # KServe writes the InferenceService's status; the operator must not have written its spec.
    assert after_is["metadata"]["generation"] == before_is["metadata"]["generation"], "spurious write"
    names = sorted(i["metadata"]["name"] for i in cluster.list_is())
    assert names == ["bc", "canary"]


def test_spec_change_that_renders_the_same_writes_no_inference_service(cluster: Cluster, run_operator: Any) -> None:
    with run_operator():
        cluster.provide_model()
        cluster.create_xm(manifest("bc", SERVED_SPEC))
        wait_for(lambda: ready_at(cluster, "bc", 1), "Ready=True at generation 1", READY_SECONDS)
        before = cluster.get_is("bc")
        assert before is not None
        # Retraining settings do not change what is served: the status advances, the InferenceService is untouched.
        cluster.patch_xm("bc", {"spec": {"retraining": {"cooldownSeconds": 120}}})
        xm = wait_for(lambda: ready_at(cluster, "bc", 2), "Ready=True at generation 2", READY_SECONDS)
        assert xm["status"]["observedGeneration"] == 2
        after = cluster.get_is("bc")
        assert after is not None
        assert after["metadata"]["generation"] == before["metadata"]["generation"]


def test_a_model_the_server_cannot_load_is_not_ready_with_the_servers_own_reason(
    cluster: Cluster, run_operator: Any
) -> None:
    """The server refuses to start (no such version on the volume); KServe reports the container's last
    lines in lastFailureInfo, and the operator's Ready says why, not only that replicas are missing."""
    with run_operator():
        cluster.provide_model()
        cluster.create_xm(manifest("bc", with_field("model.version", "v9", SERVED_SPEC)))

        def refused() -> dict[str, Any] | None:
            ready = condition(cluster.get_xm("bc"), "Ready")
            return ready if ready.get("reason") == "ModelLoadFailed" else None

        try:
            ready = wait_for(refused, "Ready=False with reason ModelLoadFailed", READY_SECONDS)
        except pytest.fail.Exception as exc:
            isvc = cluster.get_is("bc") or {}
            raise AssertionError(f"{exc}; Ready {condition(cluster.get_xm('bc'), 'Ready')}; "
                                 f"KServe status {isvc.get('status')}") from None
        assert ready["status"] == "False"
        assert "exit code" in ready["message"] and "/v9" in ready["message"], ready["message"]
