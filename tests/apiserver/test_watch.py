"""resourceVersions are real: a watch from one older than the server's watch window gets 410 Gone."""

from __future__ import annotations

import copy

import pytest
from kubernetes import watch
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from explainops_devtools.cluster.manifests import install_crds

pytestmark = pytest.mark.cluster


def _first_event(func, *args, **kwargs) -> dict:
    stream = watch.Watch().stream(func, *args, timeout_seconds=5, **kwargs)
    try:
        return next(stream)
    finally:
        stream.close()


def test_watch_from_stale_resource_version_gets_410(kube_api, namespace, make_widget_crd):
    crd = make_widget_crd()
    api = CustomObjectsApi(kube_api)
    args = (crd.group, crd.version, namespace, crd.plural)
    api.create_namespaced_custom_object(*args, crd.obj("w", {"replicas": 1}))
    listed_at = api.list_namespaced_custom_object(*args)["metadata"]["resourceVersion"]
    api.patch_namespaced_custom_object(*args, "w", {"spec": {"replicas": 2}})

    # Fresh: the server replays what happened since the list.
    event = _first_event(api.list_namespaced_custom_object, *args, resource_version=listed_at)
    assert (event["type"], event["object"]["spec"]["replicas"]) == ("MODIFIED", 2)

    # A CRD upgrade rebuilds the resource's storage and watch cache at a newer revision, so the
    # client's resourceVersion is now older than anything the server can replay.
    upgraded = copy.deepcopy(crd.schema)
    upgraded["properties"]["spec"]["properties"]["note"] = {"type": "string"}
    install_crds(kube_api, [crd.manifest(upgraded)])

    with pytest.raises(ApiException) as gone:
        _first_event(api.list_namespaced_custom_object, *args, resource_version=listed_at)
    assert gone.value.status == 410
    assert "too old resource version" in gone.value.reason
