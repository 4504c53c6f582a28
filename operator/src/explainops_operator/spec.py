"""Pure: the one typed model of an ExplainableModel spec (pydantic), parsed once per event.

Every default, enum, bound and pattern of the spec lives here and only here; the CRD
(crds/explainops.dev_explainablemodels.yaml) states the same facts for the API server, and
tests/operator/test_operator_spec.py checks that the two agree field by field.

The CRD schema rejects almost every bad spec. This model re-checks what the operator relies on, so
an object that slipped past the schema (an older CRD, a bypassed webhook) fails with one
`InvalidSpecError` naming the field instead of rendering a broken InferenceService.
Field names are the CRD's camelCase (aliases); Python code reads them in snake_case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from explainops_operator.api import GROUP, KIND, PLURAL, VERSION
from explainops_operator.errors import InvalidSpecError

__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "ExplainableModelSpec",
    "parse_quantity",
    "parse_spec",
    "served_version",
    "validate_name",
]

# --------------------------------------------------------------------------- value types

VERSION_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
STORAGE_URI_PATTERN = r"^(file:///|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/|$))[^\s]*$"
DATA_URI_PATTERN = r"^(file:///|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/)[^\s]*$"
QUANTITY_PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME_LENGTH = 45

ModelVersion = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
StorageUri = Annotated[str, StringConstraints(min_length=8, max_length=1024, pattern=STORAGE_URI_PATTERN)]
DataUri = Annotated[str, StringConstraints(min_length=8, max_length=1024, pattern=DATA_URI_PATTERN)]
# A quantity is kept as the API server holds it (an integer or a string); `Resources.as_dict` renders strings.
Quantity = StrictInt | Annotated[str, StringConstraints(max_length=64, pattern=QUANTITY_PATTERN)]

ExplainerType = Literal["AnchorTabular", "KernelShap", "TreeShap", "ALE"]
# explainops: the project's own backend (the default); alibi: alibi 0.9.6 (BSL 1.1), its own image flavour.
ExplainerBackend = Literal["explainops", "alibi"]
ModelFormat = Literal["skops", "joblib"]
FeedbackStore = Literal["sqlite", "postgres"]
GateMetric = Literal["holdoutAccuracy", "feedbackAccuracy"]
DeploymentMode = Literal["Knative", "Standard"]

EXPLAINER_TYPES: tuple[str, ...] = get_args(ExplainerType)
GATE_METRICS: tuple[str, ...] = get_args(GateMetric)

_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"),
    "E": Decimal("1e18"), "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9.]+|[KMGTPE]i|[numkMGTPE])?$")


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity's value ("500m" -> 0.5, "0.5Gi" -> 536870912): compare quantities by value,
    since KServe's webhook rewrites them into canonical form ("0.5" -> "500m")."""
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** Decimal(suffix[1:])
    return number * _SUFFIXES[suffix]


class SpecFieldError(ValueError):
    """Raised by a cross-field check; `field` is relative to the model that raises it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


# --------------------------------------------------------------------------- sections


class SecretKeyRef(_Model):
    name: Annotated[str, StringConstraints(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    key: Annotated[str, StringConstraints(max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class ModelSpec(_Model):
    storage_uri: StorageUri
    version: ModelVersion
    pinned_version: ModelVersion | None = None
    format: ModelFormat = "skops"
    trust_pickle: bool = False

    @model_validator(mode="after")
    def _pickle_is_trusted(self) -> ModelSpec:
        if self.format == "joblib" and not self.trust_pickle:
            raise SpecFieldError("trustPickle", "must be true when spec.model.format is joblib")
        return self


# Which explainer types accept which parameter (the CRD states the same in CEL; a test compares).
EXPLAINER_PARAM_TYPES: dict[str, tuple[str, ...]] = {
    "threshold": ("AnchorTabular",),
    "coverageSamples": ("AnchorTabular",),
    "batchSize": ("AnchorTabular",),
    "beamSize": ("AnchorTabular",),
    "maxAnchorSize": ("AnchorTabular",),
    "discretizerPercentiles": ("AnchorTabular",),
    "nsamples": ("KernelShap",),
    "link": ("KernelShap",),
    "backgroundSize": ("KernelShap", "TreeShap"),
    "featurePerturbation": ("TreeShap",),
    "minBinPoints": ("ALE",),
}


class ExplainerParams(_Model):
    threshold: Annotated[float, Field(ge=0.5, le=1)] | None = None
    coverage_samples: Annotated[int, Field(ge=1, le=100_000)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=10_000)] | None = None
    beam_size: Annotated[int, Field(ge=1, le=20)] | None = None
    max_anchor_size: Annotated[int, Field(ge=1, le=100)] | None = None
    discretizer_percentiles: (
        Annotated[list[Annotated[int, Field(ge=1, le=99)]], Field(min_length=1, max_length=9)] | None
    ) = None
    nsamples: Annotated[int, Field(ge=10, le=100_000)] | None = None
    link: Literal["identity", "logit"] | None = None
    background_size: Annotated[int, Field(ge=1, le=10_000)] | None = None
    feature_perturbation: Literal["treePathDependent", "interventional"] | None = None
    min_bin_points: Annotated[int, Field(ge=1, le=10_000)] | None = None

    def given(self) -> dict[str, Any]:
        """The parameters set in the spec, by their CRD names."""
        return self.model_dump(by_alias=True, exclude_none=True)


class ExplanationCache(_Model):
    enabled: bool = True
    max_entries: Annotated[int, Field(ge=1, le=1_000_000)] = 1024


class Resources(_Model):
    requests: Annotated[dict[str, Quantity], Field(max_length=8)] | None = None
    limits: Annotated[dict[str, Quantity], Field(max_length=8)] | None = None

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for resource, amount in (self.requests or {}).items():
            limit = (self.limits or {}).get(resource)
            if limit is not None and parse_quantity(amount) > parse_quantity(limit):
                raise SpecFieldError("requests", f"{resource} {amount} exceeds its limit {limit}")
        return self

    def as_dict(self) -> dict[str, dict[str, str]]:
        """A Pod spec's `resources` (a fresh dict on every call)."""
        out: dict[str, dict[str, str]] = {}
        if self.requests:
            out["requests"] = {name: str(amount) for name, amount in self.requests.items()}
        if self.limits:
            out["limits"] = {name: str(amount) for name, amount in self.limits.items()}
        return out


class ExplainerSpec(_Model):
    type: ExplainerType
    backend: ExplainerBackend = "explainops"
    params: ExplainerParams | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 30
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    placement: Literal["Sidecar", "InProcess"] = "Sidecar"
    resources: Resources = Field(
        default_factory=lambda: Resources(requests={"cpu": "100m", "memory": "512Mi"}, limits={"memory": "1Gi"})
    )
    cache: ExplanationCache = Field(default_factory=ExplanationCache)

    def given_params(self) -> dict[str, Any]:
        """spec.explainer.params as set, by their CRD names."""
        return self.params.given() if self.params is not None else {}

    @model_validator(mode="after")
    def _params_fit_the_type(self) -> ExplainerSpec:
        for name in self.given_params():
            allowed = EXPLAINER_PARAM_TYPES[name]
            if self.type not in allowed:
                raise SpecFieldError(f"params.{name}", f"applies only to type {' or '.join(allowed)}")
        return self


class ServingSpec(_Model):
    replicas: Annotated[int, Field(ge=1, le=100)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=100)] | None = None
    deployment_mode: DeploymentMode | None = None
    image: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^\s]+$")] | None = None
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "100m", "memory": "512Mi"}, limits={"memory": "1Gi"}
        )
    )
    auth_token_secret_ref: SecretKeyRef | None = None
    auth_scope: Literal["feedback", "all"] = "feedback"  # what the token guards (the server's --auth-scope)

    @model_validator(mode="after")
    def _max_not_below_min(self) -> ServingSpec:
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise SpecFieldError("maxReplicas", f"must be >= spec.serving.replicas ({self.replicas})")
        if self.auth_scope == "all" and self.auth_token_secret_ref is None:
            raise SpecFieldError("authScope", "all needs spec.serving.authTokenSecretRef (the token it requires)")
        return self


class FeedbackThresholds(_Model):
    min_labelled: Annotated[int, Field(ge=1, le=10_000_000)] = 50
    max_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.2
    min_explanation_rating: Annotated[float, Field(ge=1, le=5)] | None = None
    # Share of drifted features; unset = input drift never triggers.
    max_input_drift: Annotated[float, Field(ge=0, le=1)] | None = None


# spec.feedback.retention: a whole number of hours or days.
RETENTION_PATTERN = r"^([1-9][0-9]{0,3}d|[1-9][0-9]{0,4}h)$"
RETENTION_UNIT_SECONDS = {"h": 3600, "d": 86_400}
Retention = Annotated[str, StringConstraints(max_length=6, pattern=RETENTION_PATTERN)]


def retention_seconds(value: str) -> int:
    """`30d` -> 2592000; the caller has matched RETENTION_PATTERN."""
    return int(value[:-1]) * RETENTION_UNIT_SECONDS[value[-1]]


class FeedbackSpec(_Model):
    store: FeedbackStore = "sqlite"
    dsn_secret_ref: SecretKeyRef | None = None
    window: Annotated[int, Field(ge=10, le=100_000)] = 100
    thresholds: FeedbackThresholds = Field(default_factory=FeedbackThresholds)
    retention: Retention = "30d"

    @property
    def retention_seconds(self) -> int:
        return retention_seconds(self.retention)

    @model_validator(mode="after")
    def _dsn_only_for_postgres(self) -> FeedbackSpec:
        if self.store == "postgres" and self.dsn_secret_ref is None:
            raise SpecFieldError("dsnSecretRef", "is required when spec.feedback.store is postgres")
        if self.store == "sqlite" and self.dsn_secret_ref is not None:
            raise SpecFieldError("dsnSecretRef", "is only used when spec.feedback.store is postgres")
        return self


class GateSpec(_Model):
    metric: GateMetric = "holdoutAccuracy"
    min_improvement: Annotated[float, Field(ge=0, le=1)] = 0.0


class RetrainingSpec(_Model):
    enabled: bool = False
    training_data_uri: DataUri | None = None
    cooldown_seconds: Annotated[int, Field(ge=0, le=2_592_000)] = 3600
    backoff_limit: Annotated[int, Field(ge=0, le=10)] = 1
    active_deadline_seconds: Annotated[int, Field(ge=30, le=86_400)] = 1800
    failure_backoff_seconds: Annotated[int, Field(ge=0, le=86_400)] = 600
    resources: Resources = Field(
        default_factory=lambda: Resources(requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "2Gi"})
    )
    gate: GateSpec = Field(default_factory=GateSpec)

    @model_validator(mode="after")
    def _data_when_enabled(self) -> RetrainingSpec:
        if self.enabled and self.training_data_uri is None:
            raise SpecFieldError("trainingDataUri", "is required when spec.retraining.enabled is true")
        return self


class ExplainableModelSpec(_Model):
    model: ModelSpec
    explainer: ExplainerSpec
    serving: ServingSpec = Field(default_factory=ServingSpec)
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec)
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)

    @model_validator(mode="after")
    def _one_sqlite_writer(self) -> ExplainableModelSpec:
        if self.feedback.store == "sqlite" and max(self.serving.replicas, self.serving.max_replicas or 0) > 1:
            raise SpecFieldError("feedback.store", "must be postgres when more than one replica may run")
        return self


# --------------------------------------------------------------------------- entry points


def parse_spec(spec: Mapping[str, Any]) -> ExplainableModelSpec:
    """Validate and type an ExplainableModel spec; raise InvalidSpecError naming the first bad field."""
    if not isinstance(spec, Mapping):
        raise InvalidSpecError("spec", "must be an object")
    try:
        return ExplainableModelSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise _first_error(exc) from None


_UNION_TAGS = frozenset({"int", "str", "float", "bool"})


def _is_union_tag(part: object) -> bool:
    """Union members (a quantity is int | str) add their own names to an error's location: "int",
    "constrained-str", "function-after[...]". Field names are camelCase, never like these."""
    text = str(part)
    return text in _UNION_TAGS or "-" in text or "[" in text


def _first_error(exc: ValidationError) -> InvalidSpecError:
    errors = exc.errors(include_url=False)
    error = errors[0]
    tags = [p for p in error["loc"] if _is_union_tag(p)]
    if tags:  # of the union members, report the one of the input's own type ("lots" is a bad quantity)
        same_field = [e for e in errors if [p for p in e["loc"] if not _is_union_tag(p)] ==
                      [p for p in error["loc"] if not _is_union_tag(p)]]
        wanted = "int" if isinstance(error.get("input"), int) else "str"
        error = next((e for e in same_field if wanted in str(e["loc"][-1])), error)
    loc = [str(part) for part in error["loc"] if not _is_union_tag(part)]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, SpecFieldError):
        return InvalidSpecError(".".join(["spec", *loc, cause.field]), str(cause))
    message = "is required" if error["type"] == "missing" else error["msg"]
    if error["type"] not in ("missing", "extra_forbidden") and not isinstance(error.get("input"), Mapping | list):
        message = f"{message}, got {error.get('input')!r}"
    if error["type"] == "extra_forbidden":
        message = "is not a known field"
    return InvalidSpecError(".".join(["spec", *loc]), message)


def validate_name(name: str) -> None:
    """The object's name becomes the InferenceService's and the Jobs' name prefix."""
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise InvalidSpecError(
            "metadata.name", f"must be a DNS-1035 label of at most {MAX_NAME_LENGTH} characters, got {name!r}"
        )


def served_version(spec: ExplainableModelSpec, status: Mapping[str, Any] | None) -> str:
    """The model version to serve: spec.model.pinnedVersion, else status.modelVersion (the last promoted
    or served version), else spec.model.version. The InferenceService is re-rendered whenever this changes."""
    if spec.model.pinned_version:
        return spec.model.pinned_version
    current = (status or {}).get("modelVersion")
    return str(current) if current else spec.model.version
