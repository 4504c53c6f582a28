"""Pure: an ExplainableModel spec (a dict, as the API server stored it) -> typed, validated dataclasses.

The CRD schema rejects almost every bad spec. This module re-checks what the operator relies on,
so that an object that slipped past the schema (an older CRD, a bypassed webhook) fails with an
`InvalidSpecError` naming the field instead of rendering a broken InferenceService.
Defaults mirror the CRD's defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from explainops_operator.api import (
    EXPLAINER_PARAM_TYPES,
    EXPLAINER_TYPES,
    FEEDBACK_STORES,
    GATE_METRICS,
    GROUP,
    KIND,
    MODEL_FORMATS,
    PLURAL,
    VERSION,
    ExplainableModelSpec,
    ExplainerSpec,
    FeedbackSpec,
    FeedbackThresholds,
    GateSpec,
    ModelSpec,
    Resources,
    RetrainingSpec,
    S3Spec,
    SecretKeyRef,
    ServingSpec,
)
from explainops_operator.errors import InvalidSpecError

__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "ExplainableModelSpec",
    "parse_spec",
    "served_version",
    "validate_name",
]

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
STORAGE_URI_PATTERN = re.compile(
    r"^(file:///|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/|$)|s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9](/|$))\S*$"
)
SECRET_NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
SECRET_KEY_PATTERN = re.compile(r"^[-._a-zA-Z0-9]+$")
NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME_LENGTH = 45


# --------------------------------------------------------------------------- field readers


def _section(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        if required:
            raise InvalidSpecError(f"{path}.{key}", "is required")
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSpecError(f"{path}.{key}", f"must be an object, got {type(value).__name__}")
    return value


def _string(
    parent: Mapping[str, Any],
    key: str,
    path: str,
    *,
    default: str | None = None,
    required: bool = False,
    pattern: re.Pattern[str] | None = None,
    choices: Sequence[str] | None = None,
) -> str | None:
    value = parent.get(key)
    where = f"{path}.{key}"
    if value is None:
        if required:
            raise InvalidSpecError(where, "is required")
        return default
    if not isinstance(value, str):
        raise InvalidSpecError(where, f"must be a string, got {type(value).__name__}")
    if choices is not None and value not in choices:
        raise InvalidSpecError(where, f"must be one of {', '.join(choices)}, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise InvalidSpecError(where, f"{value!r} does not match {pattern.pattern}")
    return value


def _integer(
    parent: Mapping[str, Any], key: str, path: str, *, default: int | None, minimum: int, maximum: int
) -> int | None:
    value = parent.get(key)
    where = f"{path}.{key}"
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpecError(where, f"must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise InvalidSpecError(where, f"must be between {minimum} and {maximum}, got {value}")
    return value


def _number(
    parent: Mapping[str, Any], key: str, path: str, *, default: float | None, minimum: float, maximum: float
) -> float | None:
    value = parent.get(key)
    where = f"{path}.{key}"
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpecError(where, f"must be a number, got {value!r}")
    if not minimum <= value <= maximum:
        raise InvalidSpecError(where, f"must be between {minimum} and {maximum}, got {value}")
    return float(value)


def _boolean(parent: Mapping[str, Any], key: str, path: str, *, default: bool) -> bool:
    value = parent.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidSpecError(f"{path}.{key}", f"must be true or false, got {value!r}")
    return value


def _secret_ref(parent: Mapping[str, Any], key: str, path: str) -> SecretKeyRef | None:
    if parent.get(key) is None:
        return None
    ref = _section(parent, key, path)
    where = f"{path}.{key}"
    name = _string(ref, "name", where, required=True, pattern=SECRET_NAME_PATTERN)
    secret_key = _string(ref, "key", where, required=True, pattern=SECRET_KEY_PATTERN)
    assert name is not None and secret_key is not None  # required=True guarantees it
    return SecretKeyRef(name=name, key=secret_key)


def _resources(parent: Mapping[str, Any], key: str, path: str, default: Resources) -> Resources:
    if parent.get(key) is None:
        return default
    section = _section(parent, key, path)
    parts: dict[str, dict[str, str]] = {}
    for part in ("requests", "limits"):
        values = _section(section, part, f"{path}.{key}")
        parsed: dict[str, str] = {}
        for resource, amount in values.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float | str):
                raise InvalidSpecError(f"{path}.{key}.{part}.{resource}", f"must be a quantity, got {amount!r}")
            parsed[str(resource)] = str(amount)
        parts[part] = parsed
    return Resources(requests=parts["requests"], limits=parts["limits"])


# --------------------------------------------------------------------------- sections


def _parse_model(spec: Mapping[str, Any]) -> ModelSpec:
    path = "spec.model"
    section = _section(spec, "model", "spec", required=True)
    storage_uri = _string(section, "storageUri", path, required=True, pattern=STORAGE_URI_PATTERN)
    version = _string(section, "version", path, required=True, pattern=VERSION_PATTERN)
    pinned = _string(section, "pinnedVersion", path, pattern=VERSION_PATTERN)
    model_format = _string(section, "format", path, default="skops", choices=MODEL_FORMATS)
    trust = _boolean(section, "trustPickle", path, default=False)
    if model_format == "joblib" and not trust:
        raise InvalidSpecError(f"{path}.trustPickle", "must be true when spec.model.format is joblib")
    assert storage_uri is not None and version is not None and model_format is not None
    s3 = _section(section, "s3", path)
    retraining = spec.get("retraining") if isinstance(spec.get("retraining"), Mapping) else {}
    data_uri = retraining.get("trainingDataUri") if isinstance(retraining, Mapping) else None
    uses_s3 = storage_uri.startswith("s3://") or (isinstance(data_uri, str) and data_uri.startswith("s3://"))
    if s3 and not uses_s3:
        raise InvalidSpecError(
            f"{path}.s3", "is only used when spec.model.storageUri or spec.retraining.trainingDataUri is s3://"
        )
    return ModelSpec(
        storage_uri=storage_uri,
        version=version,
        pinned_version=pinned,
        format=model_format,
        trust_pickle=trust,
        s3=S3Spec(
            secret_name=_string(s3, "secretName", f"{path}.s3", pattern=SECRET_NAME_PATTERN),
            endpoint=_string(s3, "endpoint", f"{path}.s3"),
            region=_string(s3, "region", f"{path}.s3"),
            use_https=_boolean(s3, "useHttps", f"{path}.s3", default=True),
            verify_ssl=_boolean(s3, "verifySSL", f"{path}.s3", default=True),
        ),
    )


def _parse_explainer(spec: Mapping[str, Any]) -> ExplainerSpec:
    path = "spec.explainer"
    section = _section(spec, "explainer", "spec", required=True)
    explainer_type = _string(section, "type", path, required=True, choices=EXPLAINER_TYPES)
    assert explainer_type is not None
    params = dict(_section(section, "params", path))
    for name in params:
        allowed = EXPLAINER_PARAM_TYPES.get(name)
        if allowed is None:
            raise InvalidSpecError(f"{path}.params.{name}", "is not a known explainer parameter")
        if explainer_type not in allowed:
            raise InvalidSpecError(f"{path}.params.{name}", f"applies only to type {' or '.join(allowed)}")
    cache = _section(section, "cache", path)
    return ExplainerSpec(
        type=explainer_type,
        params=params,
        timeout_seconds=_integer(section, "timeoutSeconds", path, default=30, minimum=1, maximum=3600) or 30,
        workers=_integer(section, "workers", path, default=2, minimum=1, maximum=64) or 2,
        cache_enabled=_boolean(cache, "enabled", f"{path}.cache", default=True),
        cache_max_entries=_integer(cache, "maxEntries", f"{path}.cache", default=1024, minimum=1, maximum=1_000_000)
        or 1024,
    )


def _parse_serving(spec: Mapping[str, Any]) -> ServingSpec:
    path = "spec.serving"
    section = _section(spec, "serving", "spec")
    replicas = _integer(section, "replicas", path, default=1, minimum=1, maximum=100) or 1
    max_replicas = _integer(section, "maxReplicas", path, default=None, minimum=1, maximum=100)
    if max_replicas is not None and max_replicas < replicas:
        raise InvalidSpecError(f"{path}.maxReplicas", f"must be >= spec.serving.replicas ({replicas})")
    return ServingSpec(
        replicas=replicas,
        max_replicas=max_replicas,
        image=_string(section, "image", path, pattern=re.compile(r"^\S+$")),
        resources=_resources(section, "resources", path, ServingSpec().resources),
        auth_token_secret_ref=_secret_ref(section, "authTokenSecretRef", path),
    )


def _parse_feedback(spec: Mapping[str, Any], serving: ServingSpec, storage_uri: str) -> FeedbackSpec:
    path = "spec.feedback"
    section = _section(spec, "feedback", "spec")
    store = _string(section, "store", path, default="sqlite", choices=FEEDBACK_STORES) or "sqlite"
    dsn_ref = _secret_ref(section, "dsnSecretRef", path)
    if store == "postgres" and dsn_ref is None:
        raise InvalidSpecError(f"{path}.dsnSecretRef", "is required when spec.feedback.store is postgres")
    if store == "sqlite" and dsn_ref is not None:
        raise InvalidSpecError(f"{path}.dsnSecretRef", "is only used when spec.feedback.store is postgres")
    if store == "sqlite" and storage_uri.startswith("s3://"):
        raise InvalidSpecError(
            f"{path}.store", "must be postgres when spec.model.storageUri is s3:// (SQLite lives in the model root)"
        )
    if store == "sqlite" and max(serving.replicas, serving.max_replicas or 0) > 1:
        raise InvalidSpecError(f"{path}.store", "must be postgres when more than one replica may run")
    thresholds = _section(section, "thresholds", path)
    where = f"{path}.thresholds"
    return FeedbackSpec(
        store=store,
        dsn_secret_ref=dsn_ref,
        window=_integer(section, "window", path, default=100, minimum=10, maximum=100_000) or 100,
        thresholds=FeedbackThresholds(
            min_labelled=_integer(thresholds, "minLabelled", where, default=50, minimum=1, maximum=10_000_000) or 50,
            max_error_rate=_number(thresholds, "maxErrorRate", where, default=0.2, minimum=0.0, maximum=1.0) or 0.0,
            min_explanation_rating=_number(
                thresholds, "minExplanationRating", where, default=None, minimum=1.0, maximum=5.0
            ),
            max_mae=_number(thresholds, "maxMAE", where, default=None, minimum=0.0, maximum=1e12),
            max_rmse=_number(thresholds, "maxRMSE", where, default=None, minimum=0.0, maximum=1e12),
        ),
    )


def _parse_retraining(spec: Mapping[str, Any]) -> RetrainingSpec:
    path = "spec.retraining"
    section = _section(spec, "retraining", "spec")
    enabled = _boolean(section, "enabled", path, default=False)
    data_uri = _string(section, "trainingDataUri", path, pattern=STORAGE_URI_PATTERN)
    if enabled and data_uri is None:
        raise InvalidSpecError(f"{path}.trainingDataUri", "is required when spec.retraining.enabled is true")
    gate = _section(section, "gate", path)
    defaults = RetrainingSpec()

    def seconds(key: str, default: int, minimum: int, maximum: int) -> int:
        value = _integer(section, key, path, default=default, minimum=minimum, maximum=maximum)
        return default if value is None else value

    return RetrainingSpec(
        enabled=enabled,
        training_data_uri=data_uri,
        cooldown_seconds=seconds("cooldownSeconds", defaults.cooldown_seconds, 0, 2_592_000),
        backoff_limit=seconds("backoffLimit", defaults.backoff_limit, 0, 10),
        active_deadline_seconds=seconds("activeDeadlineSeconds", defaults.active_deadline_seconds, 30, 86_400),
        failure_backoff_seconds=seconds("failureBackoffSeconds", defaults.failure_backoff_seconds, 0, 86_400),
        resources=_resources(section, "resources", path, defaults.resources),
        gate=GateSpec(
            metric=_string(gate, "metric", f"{path}.gate", default="holdoutAccuracy", choices=GATE_METRICS)
            or "holdoutAccuracy",
            min_improvement=_number(gate, "minImprovement", f"{path}.gate", default=0.0, minimum=0.0, maximum=1.0)
            or 0.0,
        ),
    )


def parse_spec(spec: Mapping[str, Any]) -> ExplainableModelSpec:
    """Validate and type an ExplainableModel spec; raise InvalidSpecError naming the first bad field."""
    if not isinstance(spec, Mapping):
        raise InvalidSpecError("spec", "must be an object")
    serving = _parse_serving(spec)
    model = _parse_model(spec)
    return ExplainableModelSpec(
        model=model,
        explainer=_parse_explainer(spec),
        serving=serving,
        feedback=_parse_feedback(spec, serving, model.storage_uri),
        retraining=_parse_retraining(spec),
    )


def validate_name(name: str) -> None:
    """The object's name becomes the InferenceService's and the Jobs' name prefix."""
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise InvalidSpecError(
            "metadata.name", f"must be a DNS-1035 label of at most {MAX_NAME_LENGTH} characters, got {name!r}"
        )


def served_version(spec: Mapping[str, Any], status: Mapping[str, Any] | None) -> str:
    """The model version to serve: spec.model.pinnedVersion, else status.modelVersion (the last promoted
    or served version), else spec.model.version. The InferenceService is re-rendered whenever this changes."""
    model = spec.get("model") or {}
    pinned = model.get("pinnedVersion")
    if pinned:
        return str(pinned)
    current = (status or {}).get("modelVersion")
    if current:
        return str(current)
    version = model.get("version")
    if not version:
        raise InvalidSpecError("spec.model.version", "is required")
    return str(version)
