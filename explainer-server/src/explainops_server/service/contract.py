"""The request and response documents of the data plane, defined once.

The FastAPI routes declare them (so `/openapi.json` describes them) and the fast path serves them;
the console's types are generated from that document. Feedback fields come from
`feedback.base.FeedbackContent`, the stats from the store's `VersionStats` counts.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from explainops_server.explainers.schema import AleExplanation, Attribution, LocalExplanation
from explainops_server.feedback.base import FeedbackContent, FeedbackOutcome, VersionStats


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable kind, e.g. invalid_input")
    detail: str = Field(description="What went wrong and which field")


# ---- predict ---------------------------------------------------------------------------------------
class PredictRequest(BaseModel):
    """KServe V1 request. Parsed by hand on the fast path so that an error names the cell at fault."""

    instances: list[list[float | str] | dict[str, float | str]] = Field(
        min_length=1,
        description="Rows: lists in the order of the model's feature_names, or objects keyed by column name; "
        "categorical columns take their category strings",
    )


class PredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    predictions: list[int] | list[float] = Field(description="Predicted class index, or a regressor's value, per row")
    probabilities: list[list[float]] | None = Field(
        default=None, description="Class probabilities per row (classifiers only)"
    )
    prediction_ids: list[str] = Field(description="One id per row, for feedback")
    model_version: str


# ---- explanations (the documents explainers return are typed in explainers.schema) ---------------
class AnchorSummary(BaseModel):
    """What is recorded with an explained prediction: the rule and its quality."""

    type: Literal["anchor"]
    anchor: list[str] = Field(description="Conditions that together keep the prediction")
    precision: float
    coverage: float


class ShapSummary(BaseModel):
    type: Literal["kernel_shap", "tree_shap"]
    top_features: list[Attribution] = Field(description="The largest attributions, by absolute value")


Explanation = LocalExplanation
ExplanationSummary = Annotated[AnchorSummary | ShapSummary, Field(discriminator="type")]


class ExplainResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    explanations: list[Explanation]
    prediction_ids: list[str] = Field(description="Each explained row is also a recorded prediction")
    model_version: str
    explainer: str
    cached: list[bool] = Field(description="Per row: served from the explanation cache")


class AleResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    explanation: AleExplanation


# ---- feedback --------------------------------------------------------------------------------------
class FeedbackIn(FeedbackContent):
    """One feedback record about a prediction (and optionally its explanation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feedback_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="Client id; resending it is a no-op"
    )


class FeedbackBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[FeedbackIn] = Field(min_length=1)


class FeedbackAck(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    feedback_id: str
    prediction_id: str
    model_version: str | None
    status: Literal["created", "duplicate"]

    @classmethod
    def of(cls, outcome: FeedbackOutcome) -> FeedbackAck:
        return cls.model_construct(
            feedback_id=outcome.feedback_id,
            prediction_id=outcome.prediction_id,
            model_version=outcome.model_version,
            status=outcome.status,
        )


class FeedbackBatchAck(BaseModel):
    results: list[FeedbackAck]
    created: int
    duplicates: int


# ---- stats and listing -----------------------------------------------------------------------------
class VersionStatsOut(BaseModel):
    """Feedback figures of one model version (the operator's trigger signal)."""

    # The drift figures default to null (the store's counts do not carry them) but are always sent.
    model_config = ConfigDict(
        protected_namespaces=(), from_attributes=True, json_schema_serialization_defaults_required=True
    )

    model_version: str
    window: int = Field(description="Labelled predictions the windowed figures look back over")
    predictions: int = Field(description="Predictions recorded for the model version")
    labelled_count: int = Field(description="Labelled predictions (latest label per prediction), all time")
    labelled_share: float | None = Field(
        description="Share of the version's recorded predictions labelled so far; null without predictions"
    )
    label_delay_mean_seconds: float | None = Field(
        description="Mean seconds from prediction to first label, over the stats window"
    )
    label_delay_max_seconds: float | None = Field(
        description="Longest seconds from prediction to first label, over the stats window"
    )
    window_count: int = Field(description="Labelled predictions inside the stats window")
    accuracy: float | None = Field(
        description="Accuracy over the last `window` labelled predictions, by prediction time"
    )
    error_rate: float | None = Field(description="1 - accuracy over the last `window` labelled predictions")
    explanation_ratings: int = Field(description="Feedback records carrying an explanation rating")
    mean_explanation_rating: float | None = Field(description="Mean explanation rating (1-5)")
    mae: float | None = Field(
        description="Mean absolute error over the last `window` true values (regressors; null otherwise)"
    )
    rmse: float | None = Field(
        description="Root mean squared error over the last `window` true values (regressors; null otherwise)"
    )
    input_drift: float | None = Field(
        default=None, description="Share of features drifted in the monitor's last window (served version only)"
    )
    explanation_drift: float | None = Field(
        default=None,
        description="Total variation distance of attribution shares, recent vs reference (served version only)",
    )

    @classmethod
    def of(cls, counts: VersionStats) -> VersionStatsOut:
        return cls.model_validate(counts)


class StatsOut(VersionStatsOut):
    """The served version's figures at the top level, every version in `by_version`."""

    model_name: str
    by_version: list[VersionStatsOut]


class RecordedFeedback(BaseModel):
    feedback_id: str
    label: int | None
    correct: bool | None
    explanation_rating: int | None
    comment: str | None
    source: str | None
    value: float | None = Field(default=None, description="True value given for a regression prediction")
    created_at: float = Field(description="Seconds since the epoch")


class RecordedPrediction(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    prediction_id: str
    model_version: str
    inputs: list[float | str] = Field(description="Values as sent (strings for categorical columns)")
    probabilities: list[float] = Field(description="Class probabilities; empty for a regressor")
    predicted_label: int | None = Field(description="Predicted class index; null for a regressor")
    predicted_value: float | None = Field(default=None, description="A regressor's prediction")
    request_id: str | None
    explainer: str | None
    explanation: ExplanationSummary | None = Field(description="Summary of the explanation, if explained")
    created_at: float = Field(description="Seconds since the epoch")
    feedback: list[RecordedFeedback] = Field(description="Oldest first")


class PredictionListing(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    class_names: list[str]
    feature_names: list[str]
    predictions: list[RecordedPrediction] = Field(description="Newest first")


# ---- monitoring (service.monitor computes the documents, monitoring/ the figures) -------------------
class FeatureDriftOut(BaseModel):
    feature: str
    kind: Literal["numeric", "categorical"]
    statistic: Literal["ks", "psi"] = Field(description="The statistic its test uses: KS D or PSI")
    value: float = Field(description="D for ks, PSI for psi")
    p_value: float
    psi: float = Field(description="PSI over the reference deciles (categories for categorical features)")
    drifted: bool = Field(description="The test rejects at significance / number of features")


class InputDriftOut(BaseModel):
    share: float = Field(description="Drifted features / features")
    drifted_features: list[str]
    window_rows: int
    reference_rows: int
    significance: float
    features: list[FeatureDriftOut]


class AttributionShareOut(BaseModel):
    feature: str
    reference_share: float
    recent_share: float


class ExplanationDriftOut(BaseModel):
    explainer: str
    value: float = Field(description="Total variation distance of attribution shares, recent vs reference")
    drifted: bool
    threshold: float
    reference_rows: int
    recent_rows: int
    features: list[AttributionShareOut]


class DriftReference(BaseModel):
    source: Literal["background"]
    rows: int


class RetentionPass(BaseModel):
    cutoff: float = Field(description="Predictions made before this (seconds since the epoch) were eligible")
    predictions: int
    feedback: int
    batches: int


class StoreFigures(BaseModel):
    rows: dict[str, int] = Field(description="Rows per table (every model in the store)")
    bytes: int | None = Field(description="Bytes the store occupies; null when the backend cannot tell")
    retention_seconds: int | None = Field(description="Retention period; null keeps everything")
    last_retention_pass: RetentionPass | None


class MonitoringOut(BaseModel):
    """The drift monitor's last result for the served version, and the store's size and retention."""

    # Fields a disabled monitor does not know default to null but are always sent.
    model_config = ConfigDict(protected_namespaces=(), json_schema_serialization_defaults_required=True)

    model_name: str
    model_version: str
    status: Literal["pending", "insufficient_data", "ok", "disabled"]
    computed_at: float | None = Field(default=None, description="Seconds since the epoch; null while pending")
    window: int | None = Field(default=None, description="Newest predictions compared with the reference")
    min_rows: int | None = None
    interval_seconds: float | None = None
    reference: DriftReference | None = None
    input_drift: InputDriftOut | None
    explanation_drift: ExplanationDriftOut | None
    note: str | None = Field(description="Why a figure is missing, if one is")
    store: StoreFigures


# ---- metadata --------------------------------------------------------------------------------------
class ModelReadiness(BaseModel):
    name: str
    ready: bool


class ModelList(BaseModel):
    models: list[str]
