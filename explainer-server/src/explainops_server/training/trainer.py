"""Retraining: champion artifact + base training data + feedback labels -> candidate version + metrics.

Classifiers are scored by accuracy, regressors by MAE and RMSE (`holdoutMAE`, `holdoutRMSE`, ...).
Rows are in the numeric form of `models.features` (categorical columns as codes), and the estimator
is fitted on what it was first fitted on (a DataFrame of original values for a Pipeline). A model
root on `s3://` is read from and written back to the bucket.

The candidate is `sklearn.base.clone` of the champion's estimator (same class, same parameters,
same random_state), fitted on the base training rows plus the feedback-labelled predictions.
Candidate and champion are evaluated on the same rows:
- `holdoutAccuracy`: a holdout of base rows and feedback rows, split deterministically by the seed;
- `feedbackAccuracy`: the held-out feedback rows only (what users said recently; null if none);
- `baseHoldoutAccuracy`: the held-out base rows only (guards against forgetting).
The new version is written to a hidden sibling directory and renamed into place, so a reader never
sees half an artifact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from explainops_server.errors import ExplainOpsError, InvalidInput
from explainops_server.models import storage
from explainops_server.models.artifact import (
    LoadedArtifact,
    ModelMetadata,
    load_artifact,
    read_feature_csv,
    read_metadata,
    write_artifact,
)
from explainops_server.models.features import FeatureSchema

METRICS_FILE = "metrics.json"
BACKGROUND_ROWS = 100
# Below this many feedback rows nothing is held out: every label is worth more for training.
MIN_FEEDBACK_FOR_HOLDOUT = 4
# The termination message is capped at 4096 bytes by Kubernetes.
MAX_RESULT_BYTES = 4000


class TrainingError(ExplainOpsError):
    """Retraining cannot proceed (bad input data, missing champion, version already taken)."""

    kind = "training_error"
    status = 500


class VersionExists(TrainingError):
    kind = "version_exists"


@dataclass(frozen=True)
class FeedbackExample:
    prediction_id: str
    model_version: str
    inputs: list[float]
    label: int


@dataclass(frozen=True)
class TrainingRequest:
    model_name: str
    model_root: Path | str  # a directory, or s3://bucket/prefix
    base_version: str
    new_version: str
    training_data: str | None = None  # default: the champion's metadata.training_data
    holdout_fraction: float = 0.25
    seed: int = 0


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
    examples: Iterable[Any], schema: FeatureSchema | int, n_classes: int, *, regression: bool = False
) -> tuple[Dataset, int]:
    """Usable feedback rows (last label per prediction wins) and how many were dropped as unusable.

    Inputs are the recorded original values (category strings included); classification rows need a
    class index, regression rows a finite true value.
    """
    if isinstance(schema, int):
        schema = FeatureSchema([f"x{i}" for i in range(schema)])
    n_features = len(schema.names)
    latest: dict[str, tuple[list[float], float | int]] = {}
    dropped = 0
    for example in examples:
        prediction_id, inputs, label, value = _example_fields(example)
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


def _example_fields(example: Any) -> tuple[Any, Any, Any, Any]:
    """(prediction_id, inputs, label, value) of a store row: an object, a mapping or a tuple."""
    if isinstance(example, dict):
        return example.get("prediction_id"), example.get("inputs"), example.get("label"), example.get("value")
    if hasattr(example, "prediction_id"):
        return example.prediction_id, example.inputs, example.label, getattr(example, "value", None)
    prediction_id, _version, inputs, label = tuple(example)[:4]
    return prediction_id, inputs, label, None


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
    """Scores an estimator on rows in numeric form, the way the server predicts them."""

    schema: FeatureSchema
    regression: bool

    def predict(self, estimator: Any, data: Dataset) -> np.ndarray:
        x = self.schema.estimator_input(data.features)
        if self.regression:
            return np.asarray(estimator.predict(x), dtype=np.float64).reshape(-1)
        # class indices, as served: argmax over predict_proba's columns (the estimator's own labels
        # may be strings; the target holds indices)
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
    if isinstance(meta, list):  # feature names only: a numeric classification table
        features, target = read_feature_csv(Path(storage.fetch_file(uri)), meta)
    else:
        features, target = read_feature_csv(
            Path(storage.fetch_file(uri)),
            meta.feature_names,
            meta.categories,
            target_name=meta.target_name,
            class_names=meta.class_names,
            regression=meta.is_regression,
        )
    if target is None:
        name = "target" if isinstance(meta, list) else meta.target_name
        raise TrainingError(f"training data {uri} has no `{name}` column")
    return Dataset(features, target)


def retrain(request: TrainingRequest, feedback: Iterable[Any]) -> dict[str, Any]:
    """Train, evaluate and write `<root>/<new_version>/`; return the result (also in metrics.json)."""
    if request.new_version == request.base_version:
        raise TrainingError("--new-version must differ from --base-version")
    if not 0 < request.holdout_fraction < 1:
        raise TrainingError("--holdout-fraction must be between 0 and 1")
    if not storage.is_remote(str(request.model_root)):
        return _retrain_in(Path(request.model_root), request, feedback)
    # An s3:// root: the champion is downloaded, the candidate trained and written locally, then
    # uploaded with metadata.json last (a reader never sees half a version).
    remote = str(request.model_root)
    with tempfile.TemporaryDirectory(prefix="explainops-train-") as scratch:
        local = Path(scratch)
        new_remote = storage.join(remote, request.new_version)
        if storage.exists(storage.join(new_remote, "metadata.json")):
            storage.download_dir(new_remote, local / request.new_version)
        storage.download_dir(storage.join(remote, request.base_version), local / request.base_version)
        existed = (local / request.new_version).exists()
        result = _retrain_in(local, request, feedback)
        if not existed:
            storage.upload_dir(local / request.new_version, new_remote)
        return result


def _retrain_in(root: Path, request: TrainingRequest, feedback: Iterable[Any]) -> dict[str, Any]:
    from sklearn.base import clone

    target_dir = root / request.new_version
    if target_dir.exists():
        previous = _completed_result(target_dir, request.base_version)
        if previous is not None:
            # A retried Pod of the same trigger: the artifact is complete, report it again.
            return previous
        raise VersionExists(
            f"{target_dir} already exists and is not a completed retrain of {request.base_version}"
        )

    champion = load_artifact(str(root / request.base_version))
    meta = champion.metadata
    regression = meta.is_regression
    training_uri = request.training_data or meta.training_data
    if not training_uri:
        raise TrainingError("no --training-data given and the champion's metadata records none")
    base = load_base_data(training_uri, meta)
    fb, dropped = feedback_dataset(feedback, champion.schema, len(meta.class_names), regression=regression)

    base_train, base_hold = split(base, request.holdout_fraction, request.seed, regression=regression)
    if len(fb) >= MIN_FEEDBACK_FOR_HOLDOUT:
        fb_train, fb_hold = split(fb, request.holdout_fraction, request.seed, regression=regression)
    else:
        fb_train, fb_hold = fb, Dataset.empty(len(meta.feature_names), regression)
    train = Dataset.concat(base_train, fb_train)
    holdout = Dataset.concat(base_hold, fb_hold)
    if not regression and len(np.unique(train.target)) < 2:
        raise TrainingError("the training rows hold a single class")

    scorer = Scorer(champion.schema, regression)
    candidate = clone(champion.estimator).fit(champion.schema.estimator_input(train.features), train.target)

    result: dict[str, Any] = {
        "status": "succeeded",
        "model_name": request.model_name,
        "version": request.new_version,
        "parent_version": request.base_version,
        "task": meta.task,
        "candidate": scorer.evaluate(candidate, holdout, base_hold, fb_hold),
        "champion": scorer.evaluate(champion.estimator, holdout, base_hold, fb_hold),
        "counts": {
            "base_rows": len(base),
            "feedback_rows": len(fb),
            "feedback_dropped": dropped,
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "feedback_holdout_rows": len(fb_hold),
        },
        "seed": request.seed,
        "holdout_fraction": request.holdout_fraction,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _write_version(root, request, champion, candidate, train, training_uri, result)
    return result


def _write_version(
    root: Path,
    request: TrainingRequest,
    champion: LoadedArtifact,
    candidate: Any,
    train: Dataset,
    training_uri: str,
    result: dict[str, Any],
) -> None:
    meta = champion.metadata
    staging = root / f".{request.new_version}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    rng = np.random.default_rng(request.seed)
    # The background follows the data the candidate learnt from, drifted rows included.
    background = train.features[rng.choice(len(train), size=min(BACKGROUND_ROWS, len(train)), replace=False)]
    try:
        write_artifact(
            staging,
            estimator=candidate,
            name=meta.name,
            version=request.new_version,
            feature_names=meta.feature_names,
            class_names=meta.class_names,
            background=background,
            params=meta.params,
            training_data=training_uri,
            parent_version=request.base_version,
            task=meta.task,
            categories=meta.categories,
            target_name=meta.target_name,
            trusted_types=meta.trusted_types,
        )
        (staging / METRICS_FILE).write_text(json.dumps(result, indent=2) + "\n")
        staging.rename(root / request.new_version)
    except FileExistsError:
        raise VersionExists(f"{root / request.new_version} appeared while training") from None
    except OSError as exc:
        if (root / request.new_version).exists():
            raise VersionExists(f"{root / request.new_version} appeared while training") from None
        raise TrainingError(f"cannot write {root / request.new_version}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _completed_result(version_dir: Path, base_version: str) -> dict[str, Any] | None:
    try:
        metadata = read_metadata(version_dir)
        result = json.loads((version_dir / METRICS_FILE).read_text())
    except (ExplainOpsError, OSError, ValueError):
        return None
    if metadata.parent_version != base_version or not isinstance(result, dict):
        return None
    return result


def result_message(result: dict[str, Any]) -> str:
    """Compact JSON for the termination message (< 4 KB)."""
    text = json.dumps(result, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) <= MAX_RESULT_BYTES:
        return text
    slim = {
        k: result[k] for k in ("status", "version", "parent_version", "candidate", "champion") if k in result
    }
    if "error" in result:
        slim.update(error=result["error"], detail=str(result.get("detail", ""))[:1000])
    return json.dumps(slim, separators=(",", ":"), sort_keys=True)[:MAX_RESULT_BYTES]


def failure_result(error: ExplainOpsError | Exception) -> dict[str, Any]:
    kind = error.kind if isinstance(error, ExplainOpsError) else "internal_error"
    detail = error.detail if isinstance(error, ExplainOpsError) else f"{type(error).__name__}: {error}"
    return {"status": "failed", "error": kind, "detail": detail[:1500]}
