"""Fixtures of the chart tests: the helm binary, the chart's paths and a renderer.

helm comes from $HELM (exported by `make test`), else PATH, else the cache of hack/install-helm.sh.
"""

from __future__ import annotations

import os
import shutil
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
