"""The pytest fixtures hand out a healthy, local, guarded control plane."""

from __future__ import annotations

import os

import pytest
from kubernetes import config
from kubernetes.client import ApiClient, Configuration, CoreV1Api, VersionApi

from explainops_devtools.controlplane import ForeignClusterError, load_crd_manifests


@pytest.mark.cluster
def test_control_plane_is_a_modern_kubernetes_with_all_crds(control_plane, kube_api):
    version = VersionApi(kube_api).get_code()
    assert (int(version.major), int(version.minor.rstrip("+"))) >= (1, 31)
    assert all(rss and rss > 0 for rss in control_plane.rss().values())
    assert set(control_plane.pids()) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    expected = {
        crd["metadata"]["name"]
        for crd in load_crd_manifests(control_plane.settings.crd_dirs, control_plane.settings.parsed_crd_dir)
    }
    assert {"inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io"} <= expected
    assert set(control_plane.crds) == expected


@pytest.mark.cluster
def test_kubeconfig_path_serves_other_clients_and_is_the_session_default(kubeconfig_path, control_plane):
    assert os.environ["KUBECONFIG"] == str(kubeconfig_path)
    with config.new_client_from_config(config_file=str(kubeconfig_path)) as client:
        assert client.configuration.host == control_plane.server
        names = {ns.metadata.name for ns in CoreV1Api(client).list_namespace().items}
    assert {"default", "kube-system"} <= names


def test_namespace_is_fresh_and_labelled(kube_api, namespace, request):
    # Not decorated on purpose: using a cluster fixture is enough to get the marker.
    assert request.node.get_closest_marker("cluster") is not None
    ns = CoreV1Api(kube_api).read_namespace(namespace)
    assert ns.status.phase == "Active"
    assert ns.metadata.labels["explainops.dev/test-namespace"] == "true"
    assert CoreV1Api(kube_api).list_namespaced_pod(namespace).items == []


@pytest.mark.cluster
def test_guard_refuses_a_client_for_any_other_server(control_plane):
    foreign = Configuration(host="https://127.0.0.1:1")
    with (
        ApiClient(foreign) as client,
        pytest.raises(ForeignClusterError, match="not at the local control plane"),
    ):
        control_plane.verify(client)
