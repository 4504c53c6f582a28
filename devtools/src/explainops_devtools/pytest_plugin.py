"""pytest fixtures for the local Kubernetes control plane (auto-loaded via the pytest11 entry point).

Fixtures: ``control_plane`` (session), ``kube_api`` (session), ``kubeconfig_path`` (session),
``namespace`` (per test); ``s3_server`` (session, SeaweedFS), ``s3_env`` and ``s3_bucket`` (per test). Any test using one of them is marked ``cluster`` automatically.
Nothing heavy is imported here: the control plane and the kubernetes client load on first use.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from explainops_devtools.controlplane import ControlPlane
    from explainops_devtools.seaweedfs import ThrowawayS3

CLUSTER_FIXTURES = frozenset({"control_plane", "kube_api", "namespace", "kubeconfig_path"})
S3_FIXTURES = frozenset({"s3_server", "s3_env", "s3_bucket"})
TEST_NAMESPACE_LABEL = "explainops.dev/test-namespace"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster: needs the local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager)",
    )
    config.addinivalue_line("markers", "s3: needs the S3 test server (SeaweedFS, hack/install-seaweedfs.sh)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Before `-m` deselection runs, so `-m "not cluster"` also skips tests that only forgot the marker.
    for item in items:
        if (
            CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ()))
            and item.get_closest_marker("cluster") is None
        ):
            item.add_marker(pytest.mark.cluster)
        if S3_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("s3") is None:
            item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """One etcd + kube-apiserver + kube-controller-manager for the whole session, KServe and project CRDs installed.

    KUBECONFIG points at it for the session, so clients that load the default configuration
    (kopf, kubernetes.config.load_kube_config) can only reach this control plane.
    """
    from explainops_devtools.controlplane import BinariesNotFoundError, ControlPlane, ControlPlaneError

    plane = ControlPlane()
    failure = None
    try:
        plane.start()
    except BinariesNotFoundError as exc:
        failure = f"cannot start the local control plane: {exc}"
    except ControlPlaneError as exc:
        failure = f"the local control plane failed to start: {exc}"
    if failure is not None:  # outside the except block: one clear message, no chained traceback
        pytest.fail(failure, pytrace=False)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KUBECONFIG", str(plane.kubeconfig_path))
        try:
            yield plane
        finally:
            plane.stop()


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[ApiClient]:
    """A kubernetes.client.ApiClient for the session's control plane (verified to be that one)."""
    client = control_plane.api_client()
    control_plane.verify(client)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def kubeconfig_path(control_plane: ControlPlane) -> Path:
    """Path of a kubeconfig for the session's control plane (token auth, CA embedded)."""
    assert control_plane.kubeconfig_path is not None
    return control_plane.kubeconfig_path


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-") or "test"
    return f"t-{slug}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(
    request: pytest.FixtureRequest, control_plane: ControlPlane, kube_api: ApiClient
) -> Iterator[str]:
    """A fresh namespace for this test, deleted afterwards (without waiting for it to go)."""
    from kubernetes.client import CoreV1Api
    from kubernetes.client.exceptions import ApiException

    control_plane.verify(kube_api)  # never create or delete namespaces anywhere else
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

    try:
        server = ThrowawayS3.start()
    except SeaweedUnavailable as exc:
        failure = f"cannot start the S3 test server: {exc}"
    else:
        failure = None
    if failure is not None:
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
