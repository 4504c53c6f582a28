"""Paths and helm helpers of the chart tests (a uniquely named module: test folders share sys.path)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "explainops"
HELM_TIMEOUT_SECONDS = 120



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


