"""`helm upgrade` and `helm uninstall` of the chart on the real node, with models being served."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from chart_helpers import CHART
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from node_release import (
    ISVC,
    XM,
    condition,
    create_xm,
    example_rows,
    get_xm,
    operator_deployment_name,
    predict,
    ready_operator_pod,
    release_finalizers,
    served_model,
    service_url,
    wait_for,
    wait_ready,
)

from explainops_devtools.example_volume import create_model_volume

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]

GONE_SECONDS = 90.0


def helm_in(helm_run, kubeconfig_path: Path, namespace: str, *args: str) -> str:
    return helm_run(*args, "--namespace", namespace, "--kubeconfig", str(kubeconfig_path)).stdout


def answers(kube_api, xm_name: str, namespace: str) -> str:
    xm = get_xm(kube_api, namespace, xm_name)
    assert xm is not None
    with httpx.Client(timeout=60) as http:
        return predict(http, service_url(kube_api, xm), xm_name, example_rows(1))["model_version"]


def test_upgrade_rolls_the_operator_and_it_keeps_reconciling(
    operator_release, helm_run, kube_api, kubeconfig_path: Path, namespace: str
) -> None:
    release = operator_release(namespace)
    create_xm(kube_api, namespace, served_model("first", create_model_volume(kube_api, namespace, n_estimators=10)))
    ready_before = condition(wait_ready(kube_api, namespace, "first"), "Ready")
    apps = client.AppsV1Api(kube_api)
    deployment = operator_deployment_name(release)
    generation = apps.read_namespaced_deployment(deployment, namespace).metadata.generation
    old_pod = ready_operator_pod(kube_api, namespace, release)

    helm_in(helm_run, kubeconfig_path, namespace, "upgrade", release, str(CHART), "--reuse-values",
            "--set", "operator.verbose=true", "--set", "operator.resources.limits.memory=320Mi")

    rolled = apps.read_namespaced_deployment(deployment, namespace)
    assert rolled.metadata.generation == generation + 1
    (container,) = rolled.spec.template.spec.containers
    assert "--verbose" in container.args and container.resources.limits["memory"] == "320Mi"
    new_pod = wait_for(
        lambda: (p := ready_operator_pod(kube_api, namespace, release)).metadata.name != old_pod.metadata.name and p,
        "the upgraded operator pod", 120)
    assert new_pod.spec.containers[0].resources.limits["memory"] == "320Mi"
    # The models of the namespace are still reconciled by the new pod: a new one becomes Ready ...
    second_volume = create_model_volume(kube_api, namespace, claim="models-second", model_name="second",
                                        n_estimators=10)
    create_xm(kube_api, namespace, served_model("second", second_volume))
    wait_ready(kube_api, namespace, "second")
    assert answers(kube_api, "second", namespace) == "v1"
    # ... and the existing one stayed Ready all along (the condition never moved) and still answers.
    assert condition(get_xm(kube_api, namespace, "first"), "Ready") == ready_before
    assert answers(kube_api, "first", namespace) == "v1"
    history = helm_in(helm_run, kubeconfig_path, namespace, "history", release, "-o", "yaml")
    assert [entry["revision"] for entry in yaml.safe_load(history)] == [1, 2]


def test_uninstall_removes_every_object_of_the_release_and_leaves_the_models(
    operator_release, helm_run, kube_api, kubeconfig_path: Path, namespace: str
) -> None:
    release = operator_release(namespace)
    create_xm(kube_api, namespace, served_model("kept", create_model_volume(kube_api, namespace, n_estimators=10)))
    wait_ready(kube_api, namespace, "kept")
    manifest = [d for d in yaml.safe_load_all(helm_in(helm_run, kubeconfig_path, namespace,
                                                         "get", "manifest", release)) if d]
    assert sorted(d["kind"] for d in manifest) == ["Deployment", "Role", "RoleBinding", "ServiceAccount"]

    helm_in(helm_run, kubeconfig_path, namespace, "uninstall", release)

    core, apps, rbac = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    instance = f"app.kubernetes.io/instance={release}"

    listers = {
        "Deployment": lambda: apps.list_namespaced_deployment(namespace, label_selector=instance),
        "ReplicaSet": lambda: apps.list_namespaced_replica_set(namespace, label_selector=instance),
        "Pod": lambda: core.list_namespaced_pod(namespace, label_selector=instance),
        "ServiceAccount": lambda: core.list_namespaced_service_account(namespace, label_selector=instance),
        "Role": lambda: rbac.list_namespaced_role(namespace, label_selector=instance),
        "RoleBinding": lambda: rbac.list_namespaced_role_binding(namespace, label_selector=instance),
        "ClusterRole": lambda: rbac.list_cluster_role(label_selector=instance),
        "ClusterRoleBinding": lambda: rbac.list_cluster_role_binding(label_selector=instance),
    }

    def leftovers() -> list[str]:
        return [f"{kind}/{o.metadata.name}" for kind, list_ in listers.items() for o in list_().items]

    wait_for(lambda: not leftovers(), f"every object of {release} gone", GONE_SECONDS)
    for obj in manifest:  # by name too, in case an object lost its labels
        name = obj["metadata"]["name"]
        read = {"Deployment": lambda n=name: apps.read_namespaced_deployment(n, namespace),
                "ServiceAccount": lambda n=name: core.read_namespaced_service_account(n, namespace),
                "Role": lambda n=name: rbac.read_namespaced_role(n, namespace),
                "RoleBinding": lambda n=name: rbac.read_namespaced_role_binding(n, namespace)}[obj["kind"]]
        with pytest.raises(ApiException) as gone:
            read()
        assert gone.value.status == 404, obj["kind"]

    # The models are not part of the release: they stay, and KServe keeps serving them.
    kept = get_xm(kube_api, namespace, "kept")
    assert kept is not None and condition(kept, "Ready")["status"] == "True"
    assert answers(kube_api, "kept", namespace) == "v1"
    # They carry the operator's finalizer, which only the operator removes: deleting one now waits ...
    custom = client.CustomObjectsApi(kube_api)
    custom.delete_namespaced_custom_object(**XM, namespace=namespace, name="kept")
    pending = wait_for(lambda: (get_xm(kube_api, namespace, "kept") or {}).get("metadata", {}).get("deletionTimestamp")
                       and get_xm(kube_api, namespace, "kept"), "the deletion to be requested", 30)
    assert pending["metadata"]["finalizers"] == ["explainops.dev/finalizer"]
    # ... until the finalizer is removed by hand (the chart README says how); then GC takes the rest.
    assert release_finalizers(kube_api, namespace) == ["kept"]
    wait_for(lambda: get_xm(kube_api, namespace, "kept") is None, "the model gone", 30)

    def serving_gone() -> bool:
        try:
            custom.get_namespaced_custom_object(**ISVC, namespace=namespace, name="kept")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(serving_gone, "the InferenceService garbage-collected", GONE_SECONDS)
