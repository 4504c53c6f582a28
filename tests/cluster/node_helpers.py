"""Helpers of the real-node tests: the server container, pods run to their end, waits."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SERVER_IMAGE = os.environ.get("EXPLAINOPS_SERVER_IMAGE", "ghcr.io/explainops/explainops-server:0.1.0")
MODEL_NAME = "breast-cancer"
# Container-level hardening, the shape Knative's default feature flags admit.
CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # not ready yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"{what}: not reached in {timeout:.0f} s (last: {last!r})")


def server_container(model_dir: Path, name: str = "server") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The server image serving the example model on 8080, and the volumes it needs."""
    container = {
        "name": name,
        "image": SERVER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["serve", "--model-name", MODEL_NAME, "--model-uri", "/models/model/v1",
                 "--host", "0.0.0.0", "--http-port", "8080", "--data-dir", "/tmp/data"],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}, "periodSeconds": 1},
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes = [{"name": "models", "hostPath": {"path": str(model_dir), "type": "Directory"}},
               {"name": "tmp", "emptyDir": {}}]
    return container, volumes


def predict_body(model_dir: Path, rows: int = 2) -> dict[str, Any]:
    import csv

    with (model_dir / "data" / "holdout.csv").open() as f:
        reader = csv.DictReader(f)
        features = json.loads((model_dir / "model" / "v1" / "metadata.json").read_text())["feature_names"]
        instances = [[float(r[c]) for c in features] for _, r in zip(range(rows), reader, strict=False)]
    return {"instances": instances}


def run_pod(kube_api: Any, namespace: str, name: str, command: list[str], timeout: float = 120,
            image: str = SERVER_IMAGE) -> Any:
    """Run one container to its end and return the finished pod."""
    from kubernetes.client import CoreV1Api

    core = CoreV1Api(kube_api)
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": command, "securityContext": CONTAINER_SECURITY}],
        },
    })

    def finished() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    return wait_until(finished, timeout, f"pod {namespace}/{name} finished")
