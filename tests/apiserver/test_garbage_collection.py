"""The controller-manager's garbage collector deletes owned children once their owner is gone."""

from __future__ import annotations

import time

import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.cluster


def _create_owner(kube_api, namespace: str, kind: str) -> tuple[dict, callable]:
    if kind == "ConfigMap":
        core = CoreV1Api(kube_api)
        owner = core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "owner"}, "data": {"k": "v"}}
        )
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
        return ref, lambda: core.delete_namespaced_config_map(
            "owner", namespace, propagation_policy="Background"
        )
    custom = CustomObjectsApi(kube_api)
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "owner"},
        "spec": {
            "predictor": {"containers": [{"name": "kserve-container", "image": "example.invalid/model:1"}]}
        },
    }
    owner = custom.create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", isvc
    )
    ref = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    return ref, lambda: custom.delete_namespaced_custom_object(
        "serving.kserve.io",
        "v1beta1",
        namespace,
        "inferenceservices",
        "owner",
        propagation_policy="Background",
    )


@pytest.mark.parametrize("owner_kind", ["ConfigMap", "InferenceService"])
def test_owned_child_is_garbage_collected_after_owner_delete(kube_api, namespace, owner_kind):
    core = CoreV1Api(kube_api)
    owner_ref, delete_owner = _create_owner(kube_api, namespace, owner_kind)
    core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "child",
                "ownerReferences": [{**owner_ref, "controller": True, "blockOwnerDeletion": True}],
            }
        },
    )
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "bystander"}})
    time.sleep(0.5)  # the child must survive while its owner exists
    assert (
        core.read_namespaced_config_map("child", namespace).metadata.owner_references[0].uid
        == owner_ref["uid"]
    )

    delete_owner()

    deadline = time.monotonic() + 30
    while True:
        try:
            core.read_namespaced_config_map("child", namespace)
        except ApiException as exc:
            assert exc.status == 404
            break
        assert time.monotonic() < deadline, "child still present 30 s after its owner was deleted"
        time.sleep(0.1)
    assert core.read_namespaced_config_map("bystander", namespace).metadata.name == "bystander"
