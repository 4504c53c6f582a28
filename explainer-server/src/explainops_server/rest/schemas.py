"""Request and response documents (OpenAPI); predict/infer bodies are parsed by hand for speed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

INSTANCES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "oneOf": [
            {"type": "array", "items": {"oneOf": [{"type": "number"}, {"type": "string"}]}},
            {"type": "object", "additionalProperties": {"oneOf": [{"type": "number"}, {"type": "string"}]}},
        ]
    },
    "description": "Rows: lists in the order of the model's feature_names, or objects keyed by column name. "
    "Categorical columns take their category strings.",
}

V1_REQUEST = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["instances"],
                "properties": {"instances": INSTANCES_SCHEMA},
            }
        }
    },
}

V2_REQUEST = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype", "data"],
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string", "enum": ["FP64", "FP32", "INT64", "INT32", "BYTES"]},
                                "parameters": {"type": "object"},
                                "data": {"type": "array"},
                            },
                        },
                    },
                    "outputs": {"type": "array", "items": {"type": "object"}},
                },
            }
        }
    },
}


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable kind, e.g. invalid_input")
    detail: str = Field(description="What went wrong and which field")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 422, 503, 504)
}


class PredictResponse(BaseModel):
    predictions: list[int] | list[float] = Field(description="Class indices, or regression values")
    probabilities: list[list[float]] | None = Field(default=None, description="Classification only")
    prediction_ids: list[str]
    model_version: str


class ExplainResponse(BaseModel):
    explanations: list[dict[str, Any]]
    prediction_ids: list[str]
    model_version: str
    explainer: str
    cached: list[bool]


class FeedbackIn(BaseModel):
    """One feedback record about a prediction (and optionally its explanation)."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: str = Field(min_length=1, max_length=128, description="Id returned by predict or explain")
    feedback_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="Client id; resending it is a no-op"
    )
    label: StrictInt | None = Field(default=None, ge=0, description="True class index (classification)")
    value: float | None = Field(
        default=None, strict=True, allow_inf_nan=False, description="True value of a regression prediction"
    )
    correct: StrictBool | None = Field(default=None, description="Whether the prediction was right")
    explanation_rating: StrictInt | None = Field(default=None, ge=1, le=5, description="1 (useless) .. 5")
    comment: str | None = Field(default=None, max_length=4000)
    source: str | None = Field(default=None, max_length=200, description="Who gave the feedback")


class FeedbackBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[FeedbackIn] = Field(min_length=1)


class FeedbackAck(BaseModel):
    feedback_id: str
    prediction_id: str
    model_version: str | None
    status: Literal["created", "duplicate"]


class FeedbackBatchAck(BaseModel):
    results: list[FeedbackAck]
    created: int
    duplicates: int


class VersionStatsOut(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    window: int
    predictions: int
    labelled_count: int
    window_count: int
    accuracy: float | None
    error_rate: float | None
    explanation_ratings: int
    mean_explanation_rating: float | None
    mae: float | None = Field(description="Mean absolute error over the window (regression)")
    rmse: float | None = Field(description="Root mean squared error over the window (regression)")


class StatsOut(VersionStatsOut):
    model_name: str
    by_version: list[VersionStatsOut]
