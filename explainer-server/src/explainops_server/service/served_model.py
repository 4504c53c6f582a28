"""The served model as explainers, V2 metadata and feedback see it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from explainops_server.errors import InvalidInput
from explainops_server.explainers.base import Explainer
from explainops_server.feedback.base import FeedbackContent, PredictionRecord
from explainops_server.models.tabular import TabularModel
from explainops_server.service.explain_pool import checkpoint


class CancellableModel:
    """Every batch an explainer evaluates first checks the request's deadline, so a timed-out
    explanation stops within one batch and frees its worker."""

    def __init__(self, model: TabularModel) -> None:
        self._model = model

    @property
    def feature_names(self) -> list[str]:
        return self._model.feature_names

    @property
    def class_names(self) -> list[str]:
        return self._model.class_names

    @property
    def output_names(self) -> list[str]:
        return self._model.output_names

    @property
    def is_regression(self) -> bool:
        return self._model.is_regression

    @property
    def categorical_names(self) -> dict[int, list[str]]:
        return self._model.categorical_names

    @property
    def estimator(self) -> Any:
        return self._model.estimator

    @property
    def description(self) -> str:
        return self._model.description

    def predict_outputs(self, x: np.ndarray) -> np.ndarray:
        checkpoint()
        return self._model.predict_outputs(x)


def v2_model_metadata(model: TabularModel, *, role: str, explainer: str | None) -> dict[str, Any]:
    """The V2 model metadata document: one FP64 matrix in, or one tensor per column (BYTES for the
    categorical ones); class index and probabilities out, or a regressor's value."""
    meta = model.loaded.metadata
    if meta.is_regression:
        outputs = [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    else:
        outputs = [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(meta.class_names)]},
        ]
    if meta.categories:
        inputs = [
            {"name": name, "datatype": "BYTES" if name in meta.categories else "FP64", "shape": [-1]}
            for name in meta.feature_names
        ]
    else:
        inputs = [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(meta.feature_names)]}]
    return {
        "name": model.name,
        "versions": [meta.version],
        "platform": "explainops-sklearn",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            "task": meta.task,
            "categories": meta.categories,
            "feature_names": meta.feature_names,
            "class_names": meta.class_names,
            "estimator": meta.estimator,
            "role": role,
            "explainer": explainer,
        },
    }


def check_feedback_fits(model: TabularModel, item: FeedbackContent, field: str) -> None:
    """A classifier takes a class index (`label`) or `correct`; a regressor a true `value`."""
    if model.is_regression:
        for name in ("label", "correct"):
            if getattr(item, name) is not None:
                raise InvalidInput(f"{field}.{name}: this model is a regressor; send the true value as `value`")
        if item.value is None and item.explanation_rating is None:
            raise InvalidInput(f"{field}: give at least one of value, explanation_rating")
        return
    n_classes = len(model.class_names)
    if item.value is not None:
        raise InvalidInput(f"{field}.value: this model is a classifier; send the true class as `label`")
    if item.label is not None and not 0 <= item.label < n_classes:
        raise InvalidInput(f"{field}.label: must be a class index 0..{n_classes - 1}, got {item.label}")
    if item.label is None and item.correct is None and item.explanation_rating is None:
        raise InvalidInput(f"{field}: give at least one of label, correct, explanation_rating")


@dataclass(frozen=True)
class Prediction:
    """A classifier fills `probabilities` and `labels` (class indices); a regressor fills `values`."""

    prediction_ids: list[str]
    model_version: str
    probabilities: np.ndarray | None = None
    labels: np.ndarray | None = None
    values: np.ndarray | None = None

    @property
    def predictions(self) -> np.ndarray:
        return self.values if self.values is not None else self.labels  # type: ignore[return-value]


def prediction_records(
    model: TabularModel,
    rows: np.ndarray,
    prediction: Prediction,
    request_id: str | None,
    explainer: type[Explainer] | None = None,
    explanations: list[dict[str, Any]] | None = None,
) -> list[PredictionRecord]:
    """One audit record per predicted row (inputs as sent: category strings, not codes); explained
    rows also carry their explanation's summary."""
    now = time.time()
    inputs = model.schema.decode_rows(rows)
    probabilities, labels, values = prediction.probabilities, prediction.labels, prediction.values
    return [
        PredictionRecord(
            prediction_id=prediction.prediction_ids[i],
            model_name=model.name,
            model_version=prediction.model_version,
            inputs=inputs[i],
            probabilities=[] if probabilities is None else probabilities[i].tolist(),
            predicted_label=None if labels is None else int(labels[i]),
            predicted_value=None if values is None else float(values[i]),
            created_at=now,
            request_id=request_id,
            explainer=explainer.name if explainer is not None else None,
            explanation=explainer.summarise(explanations[i])
            if explainer is not None and explanations is not None
            else None,
        )
        for i in range(len(rows))
    ]


def validate_columns(model: TabularModel, columns: dict[str, list[Any]], field: str, *, max_rows: int) -> np.ndarray:
    """One list of values per column name (V2: one tensor per column)."""
    schema = model.schema
    unknown = sorted(set(columns) - set(schema.names))
    if unknown:
        raise InvalidInput(f"{field}: unknown column tensor(s) {', '.join(map(repr, unknown[:5]))}")
    missing = [name for name in schema.names if name not in columns]
    if missing:
        raise InvalidInput(f"{field}: missing column tensor(s) {', '.join(map(repr, missing[:5]))}")
    rows = schema.encode_columns(columns, field)
    if rows.shape[0] > max_rows:
        raise InvalidInput(f"{field}: at most {max_rows} instances per request, got {rows.shape[0]}")
    return rows
