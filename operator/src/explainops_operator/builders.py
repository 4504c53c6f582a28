"""Pure: ExplainableModel -> the InferenceService it renders, plus names, labels and storage paths.

The sidecar split (see operator/README.md): the predictor pod runs `kserve-container`
(`serve --role predictor`, port 8080: the pod's traffic, predictions, feedback, console) and, with
`spec.explainer.placement: Sidecar`, the `explainer` sidecar (`serve --role explainer`, localhost:8081),
which holds the same model in-process and computes the explanations on its own resources.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from explainops_operator.api import GROUP, KIND, VERSION
from explainops_operator.errors import InvalidSpecError
from explainops_operator.kserve_rules import (
    ANNOTATION_DEPLOYMENT_MODE,
    KNATIVE,
    KNATIVE_FLAG_PVC,
    KNATIVE_FLAG_PVC_WRITE,
    STANDARD,
    deployment_mode,
    rendered_resources,
    request_timeout_seconds,
)
from explainops_operator.spec import ExplainableModelSpec, ExplainerSpec, parse_quantity

IS_GROUP = "serving.kserve.io"
IS_VERSION = "v1beta1"
IS_PLURAL = "inferenceservices"
IS_API_VERSION = f"{IS_GROUP}/{IS_VERSION}"
IS_KIND = "InferenceService"

LABEL_MODEL = "explainops.dev/model"
LABEL_MODEL_VERSION = "explainops.dev/model-version"
ANNOTATION_RENDERED_HASH = "explainops.dev/rendered-hash"
MANAGER = "explainops-operator"

PREDICTOR_CONTAINER = "kserve-container"
EXPLAINER_CONTAINER = "explainer"
SERVING_PORT = 8080
EXPLAINER_PORT = 8081  # the sidecar's, on localhost only
SERVER_COMMAND = "explainops-server"
RUN_AS_USER = 10001
PVC_MOUNT_PATH = "/mnt/models"
MODEL_VOLUME = "model-store"
TMP_VOLUME = "tmp"
SQLITE_FILE = "feedback.db"

# ExplainableModel spelling -> explainops-server `--explainer` / `--explainer-params` spelling.
# The server image flavour of each explainer backend: a tag suffix on the operator's default image.
IMAGE_FLAVOUR_SUFFIX = {"explainops": "", "alibi": "-alibi"}
EXPLAINER_NAMES = {
    "AnchorTabular": "anchor_tabular",
    "KernelShap": "kernel_shap",
    "TreeShap": "tree_shap",
    "ALE": "ale",
}
EXPLAINER_PARAM_NAMES = {
    "threshold": "threshold",
    "coverageSamples": "coverage_samples",
    "batchSize": "batch_size",
    "beamSize": "beam_size",
    "maxAnchorSize": "max_anchor_size",
    "discretizerPercentiles": "disc_perc",
    "nsamples": "nsamples",
    "link": "link",
    "backgroundSize": "background_size",
    "featurePerturbation": "feature_perturbation",
    "minBinPoints": "min_bin_points",
}
FEATURE_PERTURBATION_VALUES = {"treePathDependent": "tree_path_dependent", "interventional": "interventional"}


@dataclass(frozen=True)
class Owner:
    """The ExplainableModel a child object belongs to."""

    name: str
    namespace: str
    uid: str


@dataclass(frozen=True)
class ModelStorage:
    """Where the model root is inside the containers, and the volume that puts it there (if any)."""

    root: str  # absolute path of the model root inside the container
    volume: dict[str, Any] | None = None  # a Pod volume, for pvc://
    mount_path: str | None = None


# --------------------------------------------------------------------------- names and labels


def inference_service_name(model_name: str) -> str:
    """The InferenceService has the same name as its ExplainableModel."""
    return model_name


def model_labels(model_name: str) -> dict[str, str]:
    """Labels carried by every object rendered for one ExplainableModel."""
    return {
        LABEL_MODEL: model_name,
        "app.kubernetes.io/name": "explainops-model",
        "app.kubernetes.io/instance": model_name,
        "app.kubernetes.io/managed-by": MANAGER,
        "app.kubernetes.io/part-of": "explainops",
    }


def owner_reference(owner: Owner) -> dict[str, Any]:
    """Controller owner reference: deleting the ExplainableModel garbage-collects the child."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


# --------------------------------------------------------------------------- storage


def model_storage(storage_uri: str, *, read_only: bool = False) -> ModelStorage:
    """Map spec.model.storageUri to a path inside the container.

    `file:///abs/path` is used as is. `pvc://claim/sub/path` mounts the claim at /mnt/models;
    `read_only` marks the claim itself read-only (what Knative admits without the write flag).
    """
    uri = storage_uri.rstrip("/") if storage_uri not in ("file:///",) else storage_uri
    if uri.startswith("file://"):
        return ModelStorage(root=uri[len("file://") :] or "/")
    if uri.startswith("pvc://"):
        claim, _, sub_path = uri[len("pvc://") :].partition("/")
        if not claim:
            raise InvalidSpecError("spec.model.storageUri", "pvc:// URI needs a claim name")
        root = f"{PVC_MOUNT_PATH}/{sub_path}" if sub_path else PVC_MOUNT_PATH
        source: dict[str, Any] = {"claimName": claim}
        if read_only:
            source["readOnly"] = True
        volume = {"name": MODEL_VOLUME, "persistentVolumeClaim": source}
        return ModelStorage(root=root, volume=volume, mount_path=PVC_MOUNT_PATH)
    raise InvalidSpecError("spec.model.storageUri", f"unsupported scheme in {storage_uri!r} (file:// or pvc://)")


def model_version_path(storage_uri: str, version: str) -> str:
    """`--model-uri` of the server: the version directory under the model root."""
    return f"{model_storage(storage_uri).root.rstrip('/')}/{version}"


def sqlite_feedback_dsn(storage_uri: str) -> str:
    """The SQLite feedback store sits in the model root so the retraining Job reads the same file."""
    return f"sqlite:///{model_storage(storage_uri).root.rstrip('/')}/{SQLITE_FILE}"


def feedback_store_env(spec: ExplainableModelSpec) -> list[dict[str, Any]]:
    """EXPLAINOPS_FEEDBACK_STORE from the DSN Secret (postgres) - never in args, where `ps` shows it."""
    ref = spec.feedback.dsn_secret_ref
    if spec.feedback.store != "postgres" or ref is None:
        return []
    return [_secret_env("EXPLAINOPS_FEEDBACK_STORE", ref.name, ref.key)]


def feedback_store_args(spec: ExplainableModelSpec) -> list[str]:
    """`--feedback-store` for SQLite; PostgreSQL gets its DSN from the environment instead."""
    if spec.feedback.store == "sqlite":
        return ["--feedback-store", sqlite_feedback_dsn(spec.model.storage_uri)]
    return []


def _secret_env(variable: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


# --------------------------------------------------------------------------- explainer arguments


def explainer_params(explainer: ExplainerSpec) -> dict[str, Any]:
    """spec.explainer.params in the server's spelling."""
    params: dict[str, Any] = {}
    for name, value in sorted(explainer.given_params().items()):
        server_name = EXPLAINER_PARAM_NAMES[name]  # complete for ExplainerParams (a test checks)
        if name == "featurePerturbation":
            value = FEATURE_PERTURBATION_VALUES.get(value, value)
        params[server_name] = value
    return params


def _model_args(name: str, spec: ExplainableModelSpec, version: str) -> list[str]:
    args = [
        "--model-name",
        name,
        "--model-uri",
        model_version_path(spec.model.storage_uri, version),
        "--model-format",
        spec.model.format,
    ]
    if spec.model.trust_pickle:
        args.append("--trust-pickle")
    return args


def _explainer_args(spec: ExplainableModelSpec, *, cache_entries: int) -> list[str]:
    explainer = spec.explainer
    return [
        "--explainer",
        EXPLAINER_NAMES[explainer.type],
        "--explainer-backend",
        explainer.backend,
        "--explainer-params",
        json.dumps(explainer_params(explainer), sort_keys=True, separators=(",", ":")),
        "--explain-timeout",
        str(explainer.timeout_seconds),
        "--explain-workers",
        str(explainer.workers),
        "--explain-cache-size",
        str(cache_entries),
    ]


def serving_args(name: str, spec: ExplainableModelSpec, version: str) -> list[str]:
    """kserve-container, the pod's entry point: predict, feedback, console, and explanations (computed by
    the sidecar, or in-process with placement InProcess)."""
    sidecar = spec.explainer.placement == "Sidecar"
    cache = spec.explainer.cache
    return [
        "serve",
        "--role",
        "predictor" if sidecar else "standalone",
        *(["--explainer-url", f"http://127.0.0.1:{EXPLAINER_PORT}"] if sidecar else []),
        *_model_args(name, spec, version),
        *_explainer_args(spec, cache_entries=cache.max_entries if cache.enabled else 0),
        *feedback_store_args(spec),
        "--retention-seconds",
        str(spec.feedback.retention_seconds),
        "--host",
        "0.0.0.0",
        "--http-port",
        str(SERVING_PORT),
    ]


def explainer_args(name: str, spec: ExplainableModelSpec, version: str) -> list[str]:
    """The explainer sidecar: explanations only, nothing recorded, reachable over localhost (the serving
    container caches what it returns)."""
    return [
        "serve",
        "--role",
        "explainer",
        *_model_args(name, spec, version),
        *_explainer_args(spec, cache_entries=0),
        "--host",
        "127.0.0.1",
        "--http-port",
        str(EXPLAINER_PORT),
    ]


# --------------------------------------------------------------------------- Knative requirements


def writes_model_root(spec: ExplainableModelSpec) -> bool:
    """The serving pod writes to the model root only for the SQLite feedback store."""
    return spec.feedback.store == "sqlite"


def knative_feature_flags(spec: ExplainableModelSpec) -> list[str]:
    """Knative feature flags the rendered serving pod needs beyond Knative's defaults (empty: none)."""
    if model_storage(spec.model.storage_uri).volume is None:
        return []
    return [KNATIVE_FLAG_PVC, KNATIVE_FLAG_PVC_WRITE] if writes_model_root(spec) else [KNATIVE_FLAG_PVC]


def serving_requirement(spec: ExplainableModelSpec, inference_service: Mapping[str, Any] | None) -> str | None:
    """What the cluster must allow for the rendered pod to run, as a status message part (None: nothing
    beyond defaults). Named only in Knative mode, where the flags apply."""
    flags = knative_feature_flags(spec)
    if not flags or deployment_mode(spec, inference_service) != KNATIVE:
        return None
    settings = ", ".join(f'{flag}: "enabled"' for flag in flags)
    return (
        f"in Knative mode the pod needs the Knative feature flags {settings} (ConfigMap config-features in "
        "knative-serving) for its PersistentVolumeClaim, or spec.serving.deploymentMode: Standard"
    )


# --------------------------------------------------------------------------- pod pieces


def container_security_context() -> dict[str, Any]:
    """Non-root, no privilege escalation, read-only root, no capabilities, RuntimeDefault seccomp: every
    field is one Knative admits at container level with its default feature flags."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    """Pod level, for Jobs (not Knative): fsGroup makes a mounted claim writable by the non-root user."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _common_env() -> list[dict[str, Any]]:
    # The root filesystem is read-only: libraries that cache to $HOME or numba's cache write under /tmp.
    return [
        {"name": "HOME", "value": "/tmp"},
        {"name": "NUMBA_CACHE_DIR", "value": "/tmp/numba"},
        {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
    ]


def _mounts(storage: ModelStorage, *, writable_model_root: bool) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    if storage.volume is not None and storage.mount_path is not None:
        mounts.append({"name": MODEL_VOLUME, "mountPath": storage.mount_path, "readOnly": not writable_model_root})
    return mounts


def _health_probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": SERVING_PORT},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 5,
    }


# --------------------------------------------------------------------------- the InferenceService


def render_inference_service(
    owner: Owner, spec: ExplainableModelSpec, version: str, *, default_image: str, pull_policy: str = "IfNotPresent"
) -> dict[str, Any]:
    """The InferenceService for one ExplainableModel serving `version` (see `spec.served_version`)."""
    name = inference_service_name(owner.name)
    image = spec.serving.image or default_image + IMAGE_FLAVOUR_SUFFIX[spec.explainer.backend]
    writes_sqlite = writes_model_root(spec)
    storage = model_storage(spec.model.storage_uri, read_only=not writes_sqlite)
    labels = {**model_labels(owner.name), LABEL_MODEL_VERSION: version}
    mode = spec.serving.deployment_mode  # None: KServe's configured default

    serving_env = _common_env() + feedback_store_env(spec)
    if spec.serving.auth_token_secret_ref is not None:
        ref = spec.serving.auth_token_secret_ref
        serving_env.append(_secret_env("EXPLAINOPS_AUTH_TOKEN", ref.name, ref.key))
    if spec.serving.auth_scope != "feedback":  # the server's default; keeps existing renders unchanged
        serving_env.append({"name": "EXPLAINOPS_AUTH_SCOPE", "value": spec.serving.auth_scope})

    containers = [
        {
            "name": PREDICTOR_CONTAINER,
            "image": image,
            "imagePullPolicy": pull_policy,
            "command": [SERVER_COMMAND],
            "args": serving_args(owner.name, spec, version),
            "env": serving_env,
            "ports": [{"name": "http1", "containerPort": SERVING_PORT, "protocol": "TCP"}],
            "resources": rendered_resources(spec.serving.resources),
            "securityContext": container_security_context(),
            "volumeMounts": _mounts(storage, writable_model_root=writes_sqlite),
            # A start-up failure's last lines become the container's termination message, which KServe
            # reports in status.modelStatus.lastFailureInfo and the operator in Ready.
            "terminationMessagePolicy": "FallbackToLogsOnError",
            # Loading the model and fitting the explainer can take a while; startup covers that. Readiness
            # includes the sidecar's, so a pod is Ready only when it explains too.
            "startupProbe": _health_probe("/v2/health/live", period=5, failures=60),
            "livenessProbe": _health_probe("/v2/health/live", period=10, failures=3),
            "readinessProbe": _health_probe("/v2/health/ready", period=5, failures=3),
        }
    ]
    if spec.explainer.placement == "Sidecar":
        # No ports and no probes: Knative allows them on the serving container only (its default flags).
        containers.append(
            {
                "name": EXPLAINER_CONTAINER,
                "image": image,
                "imagePullPolicy": pull_policy,
                "command": [SERVER_COMMAND],
                "args": explainer_args(owner.name, spec, version),
                "env": _common_env(),
                "resources": rendered_resources(spec.explainer.resources),
                "securityContext": container_security_context(),
                "volumeMounts": _mounts(storage, writable_model_root=False),
            }
        )
    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "1Gi"}}]
    if storage.volume is not None:
        volumes.append(storage.volume)

    predictor: dict[str, Any] = {
        "minReplicas": spec.serving.replicas,
        "maxReplicas": spec.serving.max_replicas or spec.serving.replicas,
        "timeout": request_timeout_seconds(spec),
        "labels": {LABEL_MODEL: owner.name, LABEL_MODEL_VERSION: version},
        # No pod-level securityContext: Knative refuses one unless kubernetes.podspec-securitycontext is
        # on; the containers carry theirs.
        "automountServiceAccountToken": False,
        "containers": containers,
        "volumes": volumes,
    }
    if mode == STANDARD:
        if storage.volume is not None and writes_sqlite:
            predictor["securityContext"] = {"fsGroup": RUN_AS_USER}  # the SQLite file on the claim
        if writes_sqlite:
            # One SQLite writer: the old pod stops (and releases a ReadWriteOnce claim) before the new starts.
            predictor["deploymentStrategy"] = {"type": "Recreate"}
    body: dict[str, Any] = {
        "apiVersion": IS_API_VERSION,
        "kind": IS_KIND,
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": {ANNOTATION_DEPLOYMENT_MODE: mode} if mode else {},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {"predictor": predictor},
    }
    body["metadata"]["annotations"][ANNOTATION_RENDERED_HASH] = rendered_hash(body)
    return body


def rendered_hash(body: Mapping[str, Any]) -> str:
    """Digest of what the operator renders (labels, owner, spec), to notice fields it stopped setting."""
    essence = {
        "labels": body["metadata"].get("labels", {}),
        "ownerReferences": body["metadata"].get("ownerReferences", []),
        "spec": body.get("spec", {}),
    }
    canonical = json.dumps(essence, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def contains(actual: Any, desired: Any, path: tuple[str, ...] = ()) -> bool:
    """True if every field of `desired` is present and equal in `actual` (extra fields in `actual`,
    such as those defaulted by the API server or KServe's webhook, are ignored). Lists must match
    element by element. Resource quantities compare by value: KServe's webhook rewrites "0.5" as
    "500m" and "0.5Gi" as "512Mi"."""
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(
            key in actual and contains(actual[key], value, (*path, str(key))) for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            return False
        return all(contains(a, d, path) for a, d in zip(actual, desired, strict=True))
    if len(path) >= 3 and path[-3] == "resources" and path[-2] in ("requests", "limits"):
        return _same_quantity(actual, desired)
    return bool(actual == desired)


def _same_quantity(actual: Any, desired: Any) -> bool:
    try:
        return parse_quantity(actual) == parse_quantity(desired)
    except (ValueError, TypeError):
        return bool(actual == desired)


def inference_service_is_current(desired: Mapping[str, Any], actual: Mapping[str, Any] | None) -> bool:
    """Whether the live InferenceService already is what the operator would write (then it writes nothing)."""
    if actual is None:
        return False
    desired_meta = desired["metadata"]
    actual_meta = actual.get("metadata") or {}
    actual_hash = (actual_meta.get("annotations") or {}).get(ANNOTATION_RENDERED_HASH)
    return (
        actual_hash == desired_meta["annotations"][ANNOTATION_RENDERED_HASH]
        and contains(actual_meta.get("labels") or {}, desired_meta["labels"])
        and contains(actual_meta.get("ownerReferences") or [], desired_meta["ownerReferences"])
        and contains(actual.get("spec") or {}, desired["spec"])
    )
