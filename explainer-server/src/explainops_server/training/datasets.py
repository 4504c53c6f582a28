"""The rows retraining works on, and how an estimator is scored on them.

Rows are in the numeric form of `models.features` (a categorical column holds its category's code);
the estimator sees what it was first fitted on (`FeatureSchema.estimator_input`: a DataFrame of
original values for a Pipeline). A classifier's target is a class index and it is scored by accuracy;
a regressor's target is a number and it is scored by MAE and RMSE.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explainops_server.errors import ExplainOpsError, InvalidInput
from explainops_server.models import storage
from explainops_server.models.artifact import ModelMetadata, read_feature_csv
from explainops_server.models.features import FeatureSchema


class TrainingError(ExplainOpsError):
    """Retraining cannot proceed (bad input data, missing champion, version already taken)."""

    kind = "training_error"
    status = 500


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    @classmethod
    def empty(cls, n_features: int, regression: bool = False) -> Dataset:
        return cls(np.empty((0, n_features)), np.empty(0, dtype=np.float64 if regression else np.int64))

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(self.features[index], self.target[index])

    @staticmethod
    def concat(*parts: Dataset) -> Dataset:
        return Dataset(np.vstack([p.features for p in parts]), np.concatenate([p.target for p in parts]))


def feedback_dataset(
    examples: Iterable[Any],
    schema: FeatureSchema | int,
    n_classes: int,
    *,
    version: str | None = None,
    other: bool = False,
    regression: bool = False,
) -> tuple[Dataset, int]:
    """Usable feedback rows (last label per prediction wins) and how many were dropped as unusable.

    Inputs are the recorded values (category strings included); a classifier's rows need a class index,
    a regressor's a finite true value. With `version`, only rows labelled on predictions of that version
    (or, with `other`, of any other)."""
    if isinstance(schema, int):
        schema = FeatureSchema([f"x{i}" for i in range(schema)])
    n_features = len(schema.names)
    latest: dict[str, tuple[list[float], float | int]] = {}
    dropped = 0
    for example in examples:
        prediction_id, row_version, inputs, label, value = _example_fields(example)
        if version is not None and (row_version == version) == other:
            continue
        target = _usable_target(label, value, n_classes, regression)
        row = _encoded(schema, inputs)
        if row is None or target is None:
            dropped += 1
            continue
        latest[str(prediction_id)] = (row, target)
    if not latest:
        return Dataset.empty(n_features, regression), dropped
    # Ordered by content: the seeded split then depends on the data only, not on ids or store order.
    rows = sorted(latest.values(), key=lambda row: (row[0], row[1]))
    features = np.asarray([r[0] for r in rows], dtype=np.float64).reshape(len(rows), n_features)
    dtype = np.float64 if regression else np.int64
    return Dataset(features, np.asarray([r[1] for r in rows], dtype=dtype)), dropped


def _usable_target(label: Any, value: Any, n_classes: int, regression: bool) -> float | int | None:
    if regression:
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating) or not np.isfinite(value):
            return None
        return float(value)
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or not 0 <= int(label) < n_classes:
        return None
    return int(label)


def _encoded(schema: FeatureSchema, inputs: Any) -> list[float] | None:
    if inputs is None or not isinstance(inputs, list | tuple) or len(inputs) != len(schema.names):
        return None
    try:
        return schema.encode_row(list(inputs), "feedback")
    except InvalidInput:
        return None


def _example_fields(example: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(prediction_id, model_version, inputs, label, value) of a store row: an object, a mapping or a tuple."""
    if isinstance(example, dict):
        return (example.get("prediction_id"), example.get("model_version"), example.get("inputs"),
                example.get("label"), example.get("value"))  # fmt: skip
    if hasattr(example, "prediction_id"):
        return (example.prediction_id, getattr(example, "model_version", None), example.inputs, example.label,
                getattr(example, "value", None))  # fmt: skip
    prediction_id, version, inputs, label = tuple(example)[:4]
    return prediction_id, version, inputs, label, None


def without_rows(data: Dataset, excluded: Dataset) -> tuple[Dataset, int]:
    """`data` minus every row equal (features and target) to a row of `excluded`; and how many went."""
    if len(data) == 0 or len(excluded) == 0:
        return data, 0

    def rows(part: Dataset) -> list[tuple[tuple[float, ...], float]]:
        return [(tuple(r), float(t)) for r, t in zip(part.features.tolist(), part.target.tolist(), strict=True)]

    seen = set(rows(excluded))
    keep = np.asarray([row not in seen for row in rows(data)])
    return data.subset(np.flatnonzero(keep)), int((~keep).sum())


def split(data: Dataset, fraction: float, seed: int, *, regression: bool = False) -> tuple[Dataset, Dataset]:
    """Deterministic (seeded) split into train and holdout, stratified when every class allows it."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(data))
    stratify = None
    if not regression:
        _, counts = np.unique(data.target, return_counts=True)
        n_holdout = int(np.ceil(len(data) * fraction))
        stratify = data.target if counts.min() >= 2 and n_holdout >= len(counts) else None
    train_idx, hold_idx = train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    return data.subset(np.sort(train_idx)), data.subset(np.sort(hold_idx))


@dataclass(frozen=True)
class Scorer:
    """Fits and scores an estimator on rows in numeric form, the way the server predicts them."""

    schema: FeatureSchema
    regression: bool

    def fit(self, estimator: Any, data: Dataset) -> Any:
        return estimator.fit(self.schema.estimator_input(data.features), data.target)

    def predict(self, estimator: Any, data: Dataset) -> np.ndarray:
        x = self.schema.estimator_input(data.features)
        if self.regression:
            return np.asarray(estimator.predict(x), dtype=np.float64).reshape(-1)
        # Class indices, as served: the argmax over predict_proba's columns (the estimator's own
        # labels may be strings; the target holds indices).
        return np.argmax(np.asarray(estimator.predict_proba(x)), axis=1)

    def metrics(self, estimator: Any, data: Dataset, prefix: str) -> dict[str, float | None]:
        if len(data) == 0:
            names = ("MAE", "RMSE") if self.regression else ("Accuracy",)
            return {f"{prefix}{name}": None for name in names}
        predicted = self.predict(estimator, data)
        if self.regression:
            error = predicted - data.target
            return {
                f"{prefix}MAE": round(float(np.mean(np.abs(error))), 6),
                f"{prefix}RMSE": round(float(np.sqrt(np.mean(error**2))), 6),
            }
        return {f"{prefix}Accuracy": round(float(np.mean(predicted == data.target)), 6)}

    def evaluate(self, estimator: Any, holdout: Dataset, base_holdout: Dataset, feedback_holdout: Dataset) -> dict:
        return {
            **self.metrics(estimator, holdout, "holdout"),
            **self.metrics(estimator, feedback_holdout, "feedback"),
            **self.metrics(estimator, base_holdout, "baseHoldout"),
        }


def evaluate(estimator: Any, holdout: Dataset, base_holdout: Dataset, feedback_holdout: Dataset) -> dict:
    """Classification metrics of an estimator fitted on plain numeric rows."""
    schema = FeatureSchema([f"x{i}" for i in range(holdout.features.shape[1])])
    return Scorer(schema, regression=False).evaluate(estimator, holdout, base_holdout, feedback_holdout)


def load_base_data(uri: str, meta: ModelMetadata | list[str]) -> Dataset:
    """A training or holdout CSV (path, file:// or s3://) in numeric form, with its target."""
    local = Path(storage.fetch_file(uri))
    if isinstance(meta, list):  # feature names only: a numeric classification table
        features, target = read_feature_csv(local, meta)
        name = "target"
    else:
        features, target = read_feature_csv(
            local, meta.feature_names, meta.categories, target_name=meta.target_name,
            class_names=meta.class_names, regression=meta.is_regression,
        )  # fmt: skip
        name = meta.target_name
    if target is None:
        raise TrainingError(f"training data {uri} has no `{name}` column")
    return Dataset(features, target)
