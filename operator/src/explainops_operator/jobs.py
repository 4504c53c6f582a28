"""Pure: the retraining Job (batch/v1) for one trigger. The handler creates it; nothing here does I/O.

One Job per trigger: its name is derived from the trigger sequence recorded in status before the Job
is created, so a re-run after an operator restart builds the very same object (and gets 409).
Storage, the SQLite DSN, labels, owner reference and security contexts come from `builders`, so the
trainer sees the model root and the feedback store exactly where the serving pod does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from explainops_operator.builders import (
    LABEL_MODEL,
    MODEL_VOLUME,
    PVC_MOUNT_PATH,
    SERVER_COMMAND,
    TMP_VOLUME,
    Owner,
    container_security_context,
    feedback_store_env,
    model_labels,
    model_storage,
    owner_reference,
    pod_security_context,
    sqlite_feedback_dsn,
)
from explainops_operator.errors import InvalidSpecError
from explainops_operator.object_storage import s3_env
from explainops_operator.policy import next_candidate_version
from explainops_operator.spec import ExplainableModelSpec

SEQUENCE_LABEL = "explainops.dev/retrain-sequence"
COMPONENT_LABEL = "app.kubernetes.io/component"
BASE_VERSION_ANNOTATION = "explainops.dev/base-version"
CANDIDATE_VERSION_ANNOTATION = "explainops.dev/candidate-version"
TRIGGER_REASON_ANNOTATION = "explainops.dev/trigger-reason"

ISTIO_INJECT = "sidecar.istio.io/inject"
TRAINER_CONTAINER = "trainer"
TERMINATION_LOG = "/dev/termination-log"
TRAINING_DATA_VOLUME = "training-data"
TRAINING_DATA_MOUNT_PATH = "/mnt/training-data"


def job_name(model_name: str, sequence: int) -> str:
    return f"{model_name}-retrain-{sequence}"


@dataclass(frozen=True)
class TrainingRun:
    """One trigger: which ExplainableModel, which sequence number, from which version to which."""

    owner: Owner
    spec: ExplainableModelSpec
    sequence: int
    base_version: str
    candidate_version: str
    image: str
    trigger_reason: str
    pull_policy: str = "IfNotPresent"


def training_run(
    owner: Owner,
    spec: ExplainableModelSpec,
    *,
    sequence: int,
    base_version: str,
    default_image: str,
    trigger_reason: str,
    pull_policy: str = "IfNotPresent",
) -> TrainingRun:
    """The run for trigger `sequence`: the candidate version follows from spec.model.version and the
    sequence alone, so the operator and `explainops-operator render --job` build the same Job."""
    return TrainingRun(
        owner=owner,
        spec=spec,
        sequence=sequence,
        base_version=base_version,
        candidate_version=next_candidate_version(spec.model.version, sequence),
        image=spec.serving.image or default_image,
        trigger_reason=trigger_reason,
        pull_policy=pull_policy,
    )


@dataclass(frozen=True)
class TrainingData:
    path: str  # as the trainer sees it
    volume: dict[str, Any] | None = None
    mount: dict[str, Any] | None = None


def training_data(uri: str, model_claim: str | None) -> TrainingData:
    """`file:///p` -> /p; `pvc://claim/p` -> under the model-root mount (same claim) or its own read-only mount;
    `s3://` as is (the trainer downloads it with the settings of spec.model.s3)."""
    if uri.startswith("s3://"):
        return TrainingData(uri)
    if uri.startswith("file://"):
        return TrainingData(unquote(uri[len("file://") :]))
    if uri.startswith("pvc://"):
        claim, _, sub = uri[len("pvc://") :].partition("/")
        sub = unquote(sub).strip("/")
        if not claim or not sub:
            raise InvalidSpecError("spec.retraining.trainingDataUri", f"{uri!r} needs pvc://<claim>/<path>")
        if claim == model_claim:
            return TrainingData(f"{PVC_MOUNT_PATH}/{sub}")
        return TrainingData(
            f"{TRAINING_DATA_MOUNT_PATH}/{sub}",
            {"name": TRAINING_DATA_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}},
            {"name": TRAINING_DATA_VOLUME, "mountPath": TRAINING_DATA_MOUNT_PATH, "readOnly": True},
        )
    raise InvalidSpecError(
        "spec.retraining.trainingDataUri", f"unsupported scheme in {uri!r} (file://, pvc:// or s3://)"
    )


def trainer_args(run: TrainingRun, model_root: str, data_path: str | None) -> list[str]:
    spec = run.spec
    args = [
        "train",
        "--model-name", run.owner.name,
        "--model-root", model_root,
        "--base-version", run.base_version,
        "--new-version", run.candidate_version,
        "--termination-log", TERMINATION_LOG,
        # The trainer reads only labels the serving pod's retention keeps (see the server's retention).
        "--retention-seconds", str(spec.feedback.retention_seconds),
    ]  # fmt: skip
    if data_path:
        args += ["--training-data", data_path]
    if spec.feedback.store == "sqlite":
        args += ["--feedback-store", sqlite_feedback_dsn(spec.model.storage_uri)]
    return args


def serving_node_affinity(model_name: str) -> dict[str, Any]:
    """Schedule the trainer on the node of a serving pod of the same model. The model claim is usually
    ReadWriteOnce, which pods on one node may share but pods on another node cannot attach
    (Multi-Attach); the serving pods carry LABEL_MODEL, and the Job's own pods are excluded by component."""
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {
                        "matchExpressions": [
                            {"key": LABEL_MODEL, "operator": "In", "values": [model_name]},
                            {"key": COMPONENT_LABEL, "operator": "NotIn", "values": ["retraining"]},
                        ]
                    },
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }


def build_retraining_job(run: TrainingRun) -> dict[str, Any]:
    """The Job manifest, owned by the ExplainableModel (controller reference: GC on delete)."""
    spec = run.spec
    storage = model_storage(spec.model.storage_uri)
    model_claim = (storage.volume or {}).get("persistentVolumeClaim", {}).get("claimName")
    data = (
        training_data(spec.retraining.training_data_uri, model_claim)
        if spec.retraining.training_data_uri
        else None
    )

    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "1Gi"}}]
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    if storage.volume is not None and storage.mount_path is not None:
        volumes.append(storage.volume)
        # Read-write: the trainer adds a version directory (and SQLite may write its journal).
        mounts.append({"name": MODEL_VOLUME, "mountPath": storage.mount_path})
    if data is not None and data.volume is not None and data.mount is not None:
        volumes.append(data.volume)
        mounts.append(data.mount)

    container: dict[str, Any] = {
        "name": TRAINER_CONTAINER,
        "image": run.image,
        "imagePullPolicy": run.pull_policy,
        "command": [SERVER_COMMAND],
        "args": trainer_args(run, storage.root, data.path if data else None),
        # The PostgreSQL DSN may hold a password: from the Secret into the environment, never argv.
        "env": [{"name": "HOME", "value": "/tmp"}, *s3_env(spec), *feedback_store_env(spec)],
        "resources": spec.retraining.resources.as_dict(),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    labels = {
        **model_labels(run.owner.name),
        SEQUENCE_LABEL: str(run.sequence),
        COMPONENT_LABEL: "retraining",
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
    }
    if storage.volume is not None:
        pod_spec["affinity"] = serving_node_affinity(run.owner.name)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(run.owner.name, run.sequence),
            "namespace": run.owner.namespace,
            "labels": labels,
            "annotations": {
                BASE_VERSION_ANNOTATION: run.base_version,
                CANDIDATE_VERSION_ANNOTATION: run.candidate_version,
                TRIGGER_REASON_ANNOTATION: run.trigger_reason,
            },
            "ownerReferences": [owner_reference(run.owner)],
        },
        "spec": {
            "backoffLimit": spec.retraining.backoff_limit,
            "activeDeadlineSeconds": spec.retraining.active_deadline_seconds,
            "template": {
                # An injected Istio sidecar never exits, so the Job would never complete: opt out (the
                # annotation, and the label newer Istio versions prefer).
                "metadata": {"labels": {**labels, ISTIO_INJECT: "false"}, "annotations": {ISTIO_INJECT: "false"}},
                "spec": pod_spec,
            },
        },
    }
