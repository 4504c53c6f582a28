"""Fixtures of the chart tests: the helm binary, the chart's paths and a renderer.

helm comes from $HELM (exported by `make test`), else PATH, else the cache of hack/install-helm.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "explainops"
HELM_TIMEOUT_SECONDS = 120


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


class HelmError(Exception):
    """helm exited non-zero; carries its output."""


def run_helm(helm: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # A private config/cache dir: tests never read or write the user's helm repositories.
    home = REPO / "build" / "helm-home"
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    proc = subprocess.run(
        [helm, *args], capture_output=True, text=True, env=env, timeout=HELM_TIMEOUT_SECONDS, check=False
    )
    if check and proc.returncode != 0:
        raise HelmError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def set_args(values: dict[str, Any] | None) -> list[str]:
    """Values as one --set-json per top-level key (exact types, no string coercion)."""
    return [
        arg for key, value in (values or {}).items() for arg in ("--set-json", f"{key}={json.dumps(value)}")
    ]


HelmRunner = Callable[..., subprocess.CompletedProcess[str]]
Renderer = Callable[..., list[dict[str, Any]]]


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
