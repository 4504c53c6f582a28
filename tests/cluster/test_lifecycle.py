"""Start, stop, start, stop: the host is left as it was (processes, mounts, bridge, chains, sysctls).

Runs before the session's cluster starts (the plugin orders ``node_lifecycle`` tests first), since
only one local node can run on a machine.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.node_lifecycle,
    pytest.mark.skipif(bool(os.environ.get("KUBECONFIG")), reason="KUBECONFIG names a cluster of its own"),
]


def _run_a_pod(cluster: Any) -> None:
    from kubernetes.client import CoreV1Api
    from node_helpers import run_pod

    with cluster.api_client() as client:
        CoreV1Api(client).create_namespace({"metadata": {"name": "lifecycle"}})
        pod = run_pod(client, "lifecycle", "hello", ["python3", "-c", "print('hello')"])
        assert pod.status.phase == "Succeeded"


def test_starting_and_stopping_twice_leaves_nothing_behind() -> None:
    from explainops_devtools.cluster.cluster import Cluster
    from explainops_devtools.cluster.host import HostState

    before = HostState.capture()
    for _ in range(2):
        cluster = Cluster().start()
        try:
            assert cluster.processes["kubelet"].is_ours()
            _run_a_pod(cluster)  # so there are shims, mounts, a netns and veths to clean up
        finally:
            cluster.stop()
        assert cluster.leftovers() == []
    after = HostState.capture()
    assert after.sysctls == before.sysctls
    assert after.chains == before.chains
