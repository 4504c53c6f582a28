"""Retraining: champion artifact + base training data + feedback labels -> candidate version + metrics.

The candidate is `sklearn.base.clone` of the champion's estimator (same class, same parameters,
same random_state). Champion and candidate are scored only on rows the champion never trained on:
- the **base holdout**: the CSV recorded as `holdout_data` in the artifact's metadata (inherited by
  every version). No version trains on it; a training row equal to a holdout row is dropped;
- the **feedback holdout**: a seeded split of the feedback labelled on the champion's own predictions.
  Those labels arrived after the champion was trained, so it cannot have seen them.
Metrics: `holdoutAccuracy` (both holdouts), `feedbackAccuracy` (feedback holdout; null if none),
`baseHoldoutAccuracy` (base holdout; guards against forgetting).

The evaluated candidate is fitted on the base training rows plus every feedback row outside the
feedback holdout. The artifact written (and promoted if the gate passes) is then refitted on
everything that may be trained on: the same rows plus the feedback holdout (the next run's champion
is scored on feedback labelled after it, so those rows may train it). Only the base holdout is never
trained on. metrics.json records the rows of both fits.
The new version is written to a hidden sibling directory and renamed into place, so a reader never
sees half an artifact.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from explainops_server.errors import ExplainOpsError
from explainops_server.models.artifact import (
    LoadedArtifact,
    load_artifact,
    read_feature_csv,
    read_metadata,
    uri_to_path,
    write_artifact,
)

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
    model_root: Path
    base_version: str
    new_version: str
    training_data: str | None = None  # default: the champion's metadata.training_data
    holdout_data: str | None = None  # default: the champion's metadata.holdout_data
    holdout_fraction: float = 0.25
    seed: int = 0


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    @classmethod
    def empty(cls, n_features: int) -> Dataset:
        return cls(np.empty((0, n_features)), np.empty(0, dtype=np.int64))

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(self.features[index], self.target[index])

    @staticmethod
    def concat(*parts: Dataset) -> Dataset:
        return Dataset(np.vstack([p.features for p in parts]), np.concatenate([p.target for p in parts]))


def feedback_dataset(
    examples: Iterable[Any], n_features: int, n_classes: int, *, version: str | None = None, other: bool = False
) -> tuple[Dataset, int]:
    """Usable feedback rows (last label per prediction wins) and how many were dropped as unusable.

    With `version`, only rows labelled on predictions of that version (or, with `other`, of any other)."""
    latest: dict[str, tuple[list[float], int]] = {}
    dropped = 0
    for example in examples:
        prediction_id, row_version, inputs, label = _example_fields(example)
        if version is not None and (row_version == version) == other:
            continue
        if (
            inputs is None
            or len(inputs) != n_features
            or not isinstance(label, int | np.integer)
            or not 0 <= int(label) < n_classes
            or not np.all(np.isfinite(np.asarray(inputs, dtype=np.float64)))
        ):
            dropped += 1
            continue
        latest[str(prediction_id)] = (list(inputs), int(label))
    if not latest:
        return Dataset.empty(n_features), dropped
    # Ordered by content: the seeded split then depends on the data only, not on ids or store order.
    rows = sorted(latest.values(), key=lambda row: (row[0], row[1]))
    features = np.asarray([r[0] for r in rows], dtype=np.float64).reshape(len(rows), n_features)
    return Dataset(features, np.asarray([r[1] for r in rows], dtype=np.int64)), dropped


def _example_fields(example: Any) -> tuple[Any, Any, Any, Any]:
    """(prediction_id, model_version, inputs, label) of a store row: an object, a mapping or a tuple."""
    if isinstance(example, dict):
        return (example.get("prediction_id"), example.get("model_version"), example.get("inputs"),
                example.get("label"))  # fmt: skip
    if hasattr(example, "prediction_id"):
        return example.prediction_id, getattr(example, "model_version", None), example.inputs, example.label
    prediction_id, version, inputs, label = tuple(example)[:4]
    return prediction_id, version, inputs, label


def without_rows(data: Dataset, excluded: Dataset) -> tuple[Dataset, int]:
    """`data` minus every row equal (features and target) to a row of `excluded`; and how many went."""
    if len(data) == 0 or len(excluded) == 0:
        return data, 0

    def rows(part: Dataset) -> list[tuple[tuple[float, ...], int]]:
        return [(tuple(r), int(t)) for r, t in zip(part.features.tolist(), part.target.tolist(), strict=True)]

    seen = set(rows(excluded))
    keep = np.asarray([row not in seen for row in rows(data)])
    return data.subset(np.flatnonzero(keep)), int((~keep).sum())


def split(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Deterministic (seeded) split into train and holdout, stratified when every class allows it."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(data))
    _, counts = np.unique(data.target, return_counts=True)
    n_holdout = int(np.ceil(len(data) * fraction))
    stratify = data.target if counts.min() >= 2 and n_holdout >= len(counts) else None
    train_idx, hold_idx = train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    return data.subset(np.sort(train_idx)), data.subset(np.sort(hold_idx))


def accuracy(estimator: Any, data: Dataset) -> float | None:
    if len(data) == 0:
        return None
    predicted = np.asarray(estimator.predict(data.features))
    return round(float(np.mean(predicted == data.target)), 6)


def evaluate(estimator: Any, holdout: Dataset, base_holdout: Dataset, feedback_holdout: Dataset) -> dict:
    return {
        "holdoutAccuracy": accuracy(estimator, holdout),
        "feedbackAccuracy": accuracy(estimator, feedback_holdout),
        "baseHoldoutAccuracy": accuracy(estimator, base_holdout),
    }


def load_base_data(uri: str, feature_names: list[str]) -> Dataset:
    features, target = read_feature_csv(uri_to_path(uri), feature_names)
    if target is None:
        raise TrainingError(f"training data {uri} has no `target` column")
    return Dataset(features, target)


def retrain(request: TrainingRequest, feedback: Iterable[Any]) -> dict[str, Any]:
    """Train, evaluate and write `<root>/<new_version>/`; return the result (also in metrics.json)."""
    from sklearn.base import clone

    root = request.model_root
    target_dir = root / request.new_version
    if request.new_version == request.base_version:
        raise TrainingError("--new-version must differ from --base-version")
    if not 0 < request.holdout_fraction < 1:
        raise TrainingError("--holdout-fraction must be between 0 and 1")
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
    training_uri = request.training_data or meta.training_data
    if not training_uri:
        raise TrainingError("no --training-data given and the champion's metadata records none")
    holdout_uri = request.holdout_data or meta.holdout_data
    n_features, n_classes = len(meta.feature_names), len(meta.class_names)
    base_hold = load_base_data(holdout_uri, meta.feature_names) if holdout_uri else Dataset.empty(n_features)
    base, overlap = without_rows(load_base_data(training_uri, meta.feature_names), base_hold)
    # Labels on the champion's own predictions are newer than the champion: the only feedback it never saw.
    fb_new, dropped_new = feedback_dataset(feedback, n_features, n_classes, version=request.base_version)
    fb_old, dropped_old = feedback_dataset(
        feedback, n_features, n_classes, version=request.base_version, other=True
    )
    if len(fb_new) >= MIN_FEEDBACK_FOR_HOLDOUT:
        fb_train, fb_hold = split(fb_new, request.holdout_fraction, request.seed)
    else:
        fb_train, fb_hold = fb_new, Dataset.empty(n_features)
    evaluated_on = Dataset.concat(base, fb_old, fb_train)
    refit_on = Dataset.concat(base, fb_old, fb_new)
    holdout = Dataset.concat(base_hold, fb_hold)
    if len(np.unique(evaluated_on.target)) < 2:
        raise TrainingError("the training rows hold a single class")
    if len(holdout) == 0:
        raise TrainingError(
            "nothing to score on: the champion's metadata records no holdout_data (pass --holdout-data) "
            f"and fewer than {MIN_FEEDBACK_FOR_HOLDOUT} rows are labelled on its predictions"
        )

    candidate = clone(champion.estimator).fit(evaluated_on.features, evaluated_on.target)
    candidate_metrics = evaluate(candidate, holdout, base_hold, fb_hold)
    final = clone(champion.estimator).fit(refit_on.features, refit_on.target) if len(fb_hold) else candidate

    result: dict[str, Any] = {
        "status": "succeeded",
        "model_name": request.model_name,
        "version": request.new_version,
        "parent_version": request.base_version,
        "candidate": candidate_metrics,
        "champion": evaluate(champion.estimator, holdout, base_hold, fb_hold),
        "counts": {
            "base_rows": len(base),
            "base_rows_dropped_as_holdout": overlap,
            "base_holdout_rows": len(base_hold),
            "feedback_rows": len(fb_new) + len(fb_old),
            "feedback_rows_on_champion": len(fb_new),
            "feedback_dropped": dropped_new + dropped_old,
            "train_rows": len(evaluated_on),
            "holdout_rows": len(holdout),
            "feedback_holdout_rows": len(fb_hold),
            "refit_rows": len(refit_on),
        },
        "holdout": {
            "base": holdout_uri,
            "feedback": f"a {request.holdout_fraction:g} split (seed {request.seed}) of the feedback on "
            f"{request.base_version}'s own predictions",
        },
        "refit": (
            "the artifact is refitted on train_rows plus the feedback holdout (refit_rows); the metrics are "
            "those of the fit on train_rows"
            if final is not candidate
            else "not needed: no feedback was held out, so the evaluated fit already used every trainable row"
        ),
        "seed": request.seed,
        "holdout_fraction": request.holdout_fraction,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _write_version(request, champion, final, refit_on, training_uri, result, holdout_uri)
    return result


def _write_version(
    request: TrainingRequest,
    champion: LoadedArtifact,
    candidate: Any,
    train: Dataset,
    training_uri: str,
    result: dict[str, Any],
    holdout_uri: str | None,
) -> None:
    meta = champion.metadata
    root = request.model_root
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
            holdout_data=holdout_uri,
            parent_version=request.base_version,
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
