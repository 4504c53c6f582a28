"""The pytest fixtures hand out a healthy, local, guarded cluster."""

from __future__ import annotations

import os

import pytest
from kubernetes import config
from kubernetes.client import ApiClient, Configuration, CoreV1Api, VersionApi

from explainops_devtools.cluster.errors import ForeignClusterError


@pytest.mark.cluster
def test_the_cluster_is_a_modern_kubernetes_with_every_part_running(control_plane, kube_api):
    from kubernetes.client import ApiextensionsV1Api

    from explainops_devtools.cluster.cluster import Cluster

    if not isinstance(control_plane, Cluster):
        pytest.skip("lists the processes of the node this session started; KUBECONFIG names another cluster")

    version = VersionApi(kube_api).get_code()
    assert (int(version.major), int(version.minor.rstrip("+"))) >= (1, 31)
    assert set(control_plane.processes) == {
        "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet",
        "kube-proxy", "coredns", "kserve-controller", "knative-webhook",
    }
    assert all(rss and rss > 0 for rss in control_plane.rss().values())
    crds = {c.metadata.name for c in ApiextensionsV1Api(kube_api).list_custom_resource_definition().items}
    assert {"inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io",
            "services.serving.knative.dev", "explainablemodels.explainops.dev"} <= crds


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
        pytest.raises(ForeignClusterError, match=r"not at (the local cluster|https://)"),
    ):
        control_plane.verify(client)
