"""Pure: the ExplainableModel API as Python types (group/version/kind, enums and the typed spec).

`spec.parse_spec` builds these from the stored object; `builders` renders from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GROUP = "explainops.dev"
VERSION = "v1alpha1"
PLURAL = "explainablemodels"
KIND = "ExplainableModel"

EXPLAINER_TYPES = ("AnchorTabular", "KernelShap", "TreeShap", "ALE")
MODEL_FORMATS = ("skops", "joblib")
FEEDBACK_STORES = ("sqlite", "postgres")
GATE_METRICS = (
    "holdoutAccuracy",
    "feedbackAccuracy",
    # regression: errors, lower is better
    "holdoutMAE",
    "holdoutRMSE",
    "feedbackMAE",
    "feedbackRMSE",
)

# Which explainer types accept which parameter (mirrors the CRD's CEL rules).
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



@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str


@dataclass(frozen=True)
class S3Spec:
    """spec.model.s3: how serving pods and the trainer reach an s3:// model root (KServe's conventions)."""

    secret_name: str | None = None  # Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
    endpoint: str | None = None  # S3_ENDPOINT: host[:port] or a URL
    region: str | None = None  # AWS_DEFAULT_REGION
    use_https: bool = True  # S3_USE_HTTPS
    verify_ssl: bool = True  # S3_VERIFY_SSL


@dataclass(frozen=True)
class ModelSpec:
    storage_uri: str
    version: str
    pinned_version: str | None = None
    format: str = "skops"
    trust_pickle: bool = False
    s3: S3Spec = field(default_factory=S3Spec)


@dataclass(frozen=True)
class ExplainerSpec:
    type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout_seconds: int = 30
    workers: int = 2
    cache_enabled: bool = True
    cache_max_entries: int = 1024


@dataclass(frozen=True)
class Resources:
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if self.requests:
            out["requests"] = dict(self.requests)
        if self.limits:
            out["limits"] = dict(self.limits)
        return out


@dataclass(frozen=True)
class ServingSpec:
    replicas: int = 1
    max_replicas: int | None = None
    image: str | None = None
    resources: Resources = field(
        default_factory=lambda: Resources(requests={"cpu": "100m", "memory": "512Mi"}, limits={"memory": "1Gi"})
    )
    auth_token_secret_ref: SecretKeyRef | None = None


@dataclass(frozen=True)
class FeedbackThresholds:
    min_labelled: int = 50
    max_error_rate: float = 0.2
    min_explanation_rating: float | None = None
    max_mae: float | None = None  # regression
    max_rmse: float | None = None  # regression


@dataclass(frozen=True)
class FeedbackSpec:
    store: str = "sqlite"
    dsn_secret_ref: SecretKeyRef | None = None
    window: int = 100
    thresholds: FeedbackThresholds = field(default_factory=FeedbackThresholds)


@dataclass(frozen=True)
class GateSpec:
    metric: str = "holdoutAccuracy"
    min_improvement: float = 0.0


@dataclass(frozen=True)
class RetrainingSpec:
    enabled: bool = False
    training_data_uri: str | None = None
    cooldown_seconds: int = 3600
    backoff_limit: int = 1
    active_deadline_seconds: int = 1800
    failure_backoff_seconds: int = 600
    resources: Resources = field(
        default_factory=lambda: Resources(requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "2Gi"})
    )
    gate: GateSpec = field(default_factory=GateSpec)


@dataclass(frozen=True)
class ExplainableModelSpec:
    model: ModelSpec
    explainer: ExplainerSpec
    serving: ServingSpec = field(default_factory=ServingSpec)
    feedback: FeedbackSpec = field(default_factory=FeedbackSpec)
    retraining: RetrainingSpec = field(default_factory=RetrainingSpec)
