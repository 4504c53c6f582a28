"""Fixtures of the chart tests: the helm binary, the chart's paths and a renderer.

helm comes from $HELM (exported by `make test`), else PATH, else the cache of hack/install-helm.sh.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import (  # noqa: F401
    CHART,
    HELM_TIMEOUT_SECONDS,
    REPO,
    HelmError,
    HelmRunner,
    Renderer,
    run_helm,
    set_args,
)


def _find_helm() -> str | None:
    candidates = [os.environ.get("HELM"), shutil.which("helm")]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "explainops" / "helm"
    candidates += [str(p) for p in sorted(cache.glob("*/helm"))]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="session")
def helm() -> str:
    path = _find_helm()
    if path is None:
        pytest.skip("no helm binary: run hack/install-helm.sh or set HELM")
    return path


@pytest.fixture(scope="session")
def helm_run(helm: str) -> HelmRunner:
    """run_helm bound to the helm binary: helm_run("lint", ..., check=True)."""
    return lambda *args, check=True: run_helm(helm, *args, check=check)


@pytest.fixture(scope="session")
def render(helm: str) -> Renderer:
    """helm template -> list of manifests (dicts)."""

    def _render(
        values: dict[str, Any] | None = None, release: str = "xo", namespace: str = "explainops-system"
    ):
        out = run_helm(
            helm, "template", release, str(CHART), "--namespace", namespace, *set_args(values)
        ).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return _render


# --------------------------------------------------------------------------- the chart on the node


@pytest.fixture
def make_namespace(control_plane, kube_api) -> Iterator[Callable[[str], str]]:
    """Creates extra throwaway namespaces (labelled like the `namespace` fixture's), deleted afterwards."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from explainops_devtools.pytest_plugin import TEST_NAMESPACE_LABEL

    core = client.CoreV1Api(kube_api)
    created: list[str] = []

    def _make(prefix: str) -> str:
        control_plane.verify(kube_api)
        name = f"{prefix}-{secrets.token_hex(3)}"
        core.create_namespace({"metadata": {"name": name, "labels": {TEST_NAMESPACE_LABEL: "true"}}})
        created.append(name)
        return name

    yield _make
    for name in created:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def install(helm_run, kubeconfig_path: Path) -> Iterator[Callable[..., str]]:
    """helm install of the chart into the local control plane; uninstalled afterwards."""
    installed: list[tuple[str, str]] = []

    def _install(namespace: str, values: dict[str, Any] | None = None, *extra: str) -> str:
        release = f"xo-{secrets.token_hex(3)}"  # cluster-scoped names embed it: unique per test
        helm_run(
            "install",
            release,
            str(CHART),
            "--namespace",
            namespace,
            "--kubeconfig",
            str(kubeconfig_path),
            *set_args(values),
            *extra,
        )
        installed.append((release, namespace))
        return release

    yield _install
    for release, namespace in installed:
        helm_run(
            "uninstall", release, "--namespace", namespace, "--kubeconfig", str(kubeconfig_path), check=False
        )


@pytest.fixture
def operator_release(namespace: str, install, kube_api) -> Iterator[Callable[..., str]]:
    """`operator_release(namespace)`: the chart installed in `namespace`, its operator pod watching only
    that namespace (another operator may serve the rest of a shared cluster), running and Ready.

    Afterwards the models of the namespace are deleted while the operator still runs (it removes its
    finalizer), then the release is uninstalled, then the namespace: in the other order the models'
    finalizer would keep the namespace Terminating."""
    from node_release import OPERATOR_ENV, delete_models, ready_operator_pod

    def _release(namespace: str, values: dict[str, Any] | None = None) -> str:
        merged: dict[str, Any] = {"crds": {"enabled": False}, "watchNamespaces": [namespace],
                                  "operator": {"extraEnv": OPERATOR_ENV}}
        for key, value in (values or {}).items():
            both_maps = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **value} if both_maps else value
        release = install(namespace, merged)
        ready_operator_pod(kube_api, namespace, release)
        return release

    yield _release
    delete_models(kube_api, namespace)
