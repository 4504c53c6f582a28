"""The example model on a PersistentVolumeClaim, written by a Job in the cluster (tests and the demo).

The artifact is trained where it is served, so the same step works on the local node and on a cluster
KUBECONFIG names: nothing is copied from this machine.
"""

from __future__ import annotations

import os
import time
from typing import Any

SERVER_IMAGE = os.environ.get("EXPLAINOPS_SERVER_IMAGE", "ghcr.io/explainops/explainops-server:0.1.0")
MOUNT = "/mnt/models"
SERVER_UID = 10001


def setup_job(claim: str, model_name: str, *, n_estimators: int, image: str) -> dict[str, Any]:
    """Trains v1 into ``<claim>/<model_name>/v1`` and its data into ``<claim>/data/<model_name>/``."""
    script = (
        "import os; from explainops_server.models.example import train_example; "
        f"train_example('{MOUNT}/{model_name}', '{MOUNT}/data/{model_name}', name='{model_name}', "
        f"n_estimators={n_estimators}); "
        f"[os.chown(os.path.join(d, f), {SERVER_UID}, {SERVER_UID}) for d, ds, fs in os.walk('{MOUNT}') for f in ds + fs]; "
        f"os.chown('{MOUNT}', {SERVER_UID}, {SERVER_UID})"
    )
    return {
        "metadata": {"name": f"setup-{claim}-{model_name}"},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "train", "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-c", script],
                # Root only to hand the fresh volume to the server's UID: not every provisioner
                # honours fsGroup (host-path volumes do not).
                "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}},
                "volumeMounts": [{"name": "models", "mountPath": MOUNT}],
            }],
            "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": claim}}],
        }}},
    }


def create_model_volume(api_client: Any, namespace: str, *, claim: str = "models", model_name: str = "breast-cancer",
                        n_estimators: int = 100, image: str = SERVER_IMAGE, timeout: float = 240.0) -> str:
    """Create the claim, run the setup Job to its end, and return ``pvc://<claim>/<model_name>``."""
    from kubernetes.client import BatchV1Api, CoreV1Api

    CoreV1Api(api_client).create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": claim},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    })
    batch = BatchV1Api(api_client)
    job = setup_job(claim, model_name, n_estimators=n_estimators, image=image)
    batch.create_namespaced_job(namespace, job)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = batch.read_namespaced_job(job["metadata"]["name"], namespace).status
        if status.succeeded:
            return f"pvc://{claim}/{model_name}"
        if status.failed:
            raise RuntimeError(f"the setup Job in {namespace} failed; see its pod's log")
        time.sleep(1)
    raise TimeoutError(f"the setup Job in {namespace} did not finish in {timeout:.0f} s")
