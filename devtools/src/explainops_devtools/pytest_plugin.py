"""pytest fixtures for the real single-node cluster (auto-loaded via the pytest11 entry point).

Fixtures: ``local_cluster`` (session; ``control_plane`` is the same object), ``kube_api`` (session),
``kubeconfig_path`` (session), ``namespace`` (per test). A test using one of them is marked ``cluster``.
``s3_server`` (session: SeaweedFS's S3 gateway on 127.0.0.1), ``s3_env`` and ``s3_bucket`` (per test);
a test using one of them is marked ``s3``.

The session starts the local node (etcd, API server, controller-manager, scheduler, containerd,
kubelet, kube-proxy, CoreDNS, KServe, Knative's webhook) and stops it at the end, even when tests
fail; or, when KUBECONFIG names a cluster with KServe installed, it uses that one.
Nothing heavy is imported here: the cluster code and the kubernetes client load on first use.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from explainops_devtools.seaweedfs import ThrowawayS3

CLUSTER_FIXTURES = frozenset({"local_cluster", "control_plane", "kube_api", "namespace", "kubeconfig_path"})
S3_FIXTURES = frozenset({"s3_server", "s3_env", "s3_bucket"})
TEST_NAMESPACE_LABEL = "explainops.dev/test-namespace"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: needs the real local node (or a KUBECONFIG cluster with KServe)")
    config.addinivalue_line("markers", "node_lifecycle: starts and stops local nodes itself; runs first")
    config.addinivalue_line("markers", "s3: needs the S3 test server (SeaweedFS, hack/install-seaweedfs.sh)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Before `-m` deselection runs, so `-m "not cluster"` also skips tests that only forgot the marker.
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("cluster") is None:
            item.add_marker(pytest.mark.cluster)
        if S3_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("s3") is None:
            item.add_marker(pytest.mark.s3)
    # Tests that start and stop nodes of their own run before the session's node exists:
    # one machine holds one local node at a time.
    items.sort(key=lambda item: item.get_closest_marker("node_lifecycle") is None)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[Any]:
    """The session's cluster, with KUBECONFIG pointing at it for the whole session."""
    from explainops_devtools.cluster.cluster import Cluster
    from explainops_devtools.cluster.errors import ClusterError
    from explainops_devtools.cluster.existing import ExistingCluster

    failure = None
    try:
        running: Any = ExistingCluster.from_environment() or Cluster().start()
    except ClusterError as exc:
        failure = f"cannot start the local cluster: {exc}"
    if failure is not None:  # outside the except block: one clear message, no chained traceback
        pytest.fail(failure, pytrace=False)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KUBECONFIG", str(running.kubeconfig_path))
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="session")
def control_plane(local_cluster: Any) -> Any:
    """The same cluster, under the name the API-level tests use."""
    return local_cluster


@pytest.fixture(scope="session")
def kube_api(local_cluster: Any) -> Iterator[ApiClient]:
    """A kubernetes.client.ApiClient for the session's cluster (verified to be that one)."""
    client = local_cluster.api_client()
    local_cluster.verify(client)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def kubeconfig_path(local_cluster: Any) -> Path:
    return Path(local_cluster.kubeconfig_path)


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:24].strip("-") or "test"
    return f"t-{slug}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(request: pytest.FixtureRequest, local_cluster: Any, kube_api: ApiClient) -> Iterator[str]:
    """A fresh namespace for this test, deleted afterwards (without waiting for it to go)."""
    from kubernetes.client import CoreV1Api
    from kubernetes.client.exceptions import ApiException

    local_cluster.verify(kube_api)  # never create or delete namespaces anywhere else
    core = CoreV1Api(kube_api)
    name = _namespace_name(request.node.name)
    core.create_namespace({"metadata": {"name": name, "labels": {TEST_NAMESPACE_LABEL: "true"}}})
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise


# ---- S3 object storage ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server() -> Iterator[ThrowawayS3]:
    """A real S3-compatible server (SeaweedFS) on free 127.0.0.1 ports for the whole session.

    Fails (not skips) without a `weed` binary: `make test` provisions one with hack/install-seaweedfs.sh.
    """
    from explainops_devtools.seaweedfs import SeaweedUnavailable, ThrowawayS3

    failure = None
    try:
        server = ThrowawayS3.start()
    except SeaweedUnavailable as exc:
        failure = f"cannot start the S3 test server: {exc}"
    if failure is not None:  # outside the except block: one clear message, no chained traceback
        pytest.fail(failure, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: ThrowawayS3, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test process talks to the session's S3 server (KServe-style AWS_* variables set)."""
    env = s3_server.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from explainops_server.models import storage

    storage._client.cache_clear()
    return env


@pytest.fixture
def s3_bucket(s3_server: ThrowawayS3, s3_env: dict[str, str]) -> str:
    """A fresh, empty bucket for this test."""
    return s3_server.create_bucket(f"t-{secrets.token_hex(6)}")

