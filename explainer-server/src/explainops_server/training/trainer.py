"""Retraining: champion artifact + base training data + feedback labels -> candidate version + metrics.

Classifiers are scored by accuracy, regressors by MAE and RMSE (`holdoutMAE`, `holdoutRMSE`, ...);
categorical columns and pipelines are fitted on what they were first fitted on (`training.datasets`).
A model root on `s3://` is downloaded, trained on locally and the new version uploaded back.

The candidate is `sklearn.base.clone` of the champion's estimator (same class, same parameters,
same random_state). Champion and candidate are scored only on rows the champion never trained on:
- the **base holdout**: the CSV recorded as `holdout_data` in the artifact's metadata (inherited by
  every version). No version trains on it; a training row equal to a holdout row is dropped;
- the **feedback holdout**: a seeded split of the feedback labelled on the champion's own predictions.
  Those labels arrived after the champion was trained, so it cannot have seen them.
Metrics: `holdoutAccuracy` (both holdouts), `feedbackAccuracy` (feedback holdout; null if none),
`baseHoldoutAccuracy` (base holdout; guards against forgetting); for a regressor the same three
prefixes with `MAE` and `RMSE`.

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
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from explainops_server.errors import ExplainOpsError
from explainops_server.models import storage
from explainops_server.models.artifact import LoadedArtifact, load_artifact, read_metadata, write_artifact
from explainops_server.training.datasets import (
    Dataset,
    Scorer,
    TrainingError,
    evaluate,
    feedback_dataset,
    load_base_data,
    split,
    without_rows,
)

__all__ = ["Dataset", "TrainingError", "evaluate", "feedback_dataset", "load_base_data", "retrain", "split",
           "without_rows"]  # fmt: skip

METRICS_FILE = "metrics.json"
BACKGROUND_ROWS = 100
# Below this many feedback rows nothing is held out: every label is worth more for training.
MIN_FEEDBACK_FOR_HOLDOUT = 4
# The termination message is capped at 4096 bytes by Kubernetes.
MAX_RESULT_BYTES = 4000


class VersionExists(TrainingError):
    kind = "version_exists"


@dataclass(frozen=True)
class FeedbackExample:
    prediction_id: str
    model_version: str
    inputs: list[Any]
    label: int | None
    value: float | None = None  # a regressor's true value


@dataclass(frozen=True)
class TrainingRequest:
    model_name: str
    model_root: Path | str  # a directory, or s3://bucket/prefix
    base_version: str
    new_version: str
    training_data: str | None = None  # default: the champion's metadata.training_data
    holdout_data: str | None = None  # default: the champion's metadata.holdout_data
    holdout_fraction: float = 0.25
    seed: int = 0


def retrain(request: TrainingRequest, feedback: Iterable[Any]) -> dict[str, Any]:
    """Train, evaluate and write `<root>/<new_version>/`; return the result (also in metrics.json)."""
    if request.new_version == request.base_version:
        raise TrainingError("--new-version must differ from --base-version")
    if not 0 < request.holdout_fraction < 1:
        raise TrainingError("--holdout-fraction must be between 0 and 1")
    if not storage.is_remote(str(request.model_root)):
        return _retrain_in(Path(request.model_root), request, feedback)
    # An s3:// root: the champion (and a finished candidate of a retried Pod) is downloaded, the new
    # version trained and written locally, then uploaded with metadata.json last.
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
    training_uri = request.training_data or meta.training_data
    if not training_uri:
        raise TrainingError("no --training-data given and the champion's metadata records none")
    holdout_uri = request.holdout_data or meta.holdout_data
    regression = meta.is_regression
    n_features, n_classes = len(meta.feature_names), len(meta.class_names)
    empty = Dataset.empty(n_features, regression)
    base_hold = load_base_data(holdout_uri, meta) if holdout_uri else empty
    base, overlap = without_rows(load_base_data(training_uri, meta), base_hold)
    # Labels on the champion's own predictions are newer than the champion: the only feedback it never saw.
    feedback = list(feedback)
    on_champion = {"version": request.base_version, "regression": regression}
    fb_new, dropped_new = feedback_dataset(feedback, champion.schema, n_classes, **on_champion)
    fb_old, dropped_old = feedback_dataset(feedback, champion.schema, n_classes, **on_champion, other=True)
    if len(fb_new) >= MIN_FEEDBACK_FOR_HOLDOUT:
        fb_train, fb_hold = split(fb_new, request.holdout_fraction, request.seed, regression=regression)
    else:
        fb_train, fb_hold = fb_new, empty
    evaluated_on = Dataset.concat(base, fb_old, fb_train)
    refit_on = Dataset.concat(base, fb_old, fb_new)
    holdout = Dataset.concat(base_hold, fb_hold)
    if not regression and len(np.unique(evaluated_on.target)) < 2:
        raise TrainingError("the training rows hold a single class")
    if len(holdout) == 0:
        raise TrainingError(
            "nothing to score on: the champion's metadata records no holdout_data (pass --holdout-data) "
            f"and fewer than {MIN_FEEDBACK_FOR_HOLDOUT} rows are labelled on its predictions"
        )

    scorer = Scorer(champion.schema, regression)
    candidate = scorer.fit(clone(champion.estimator), evaluated_on)
    candidate_metrics = scorer.evaluate(candidate, holdout, base_hold, fb_hold)
    final = scorer.fit(clone(champion.estimator), refit_on) if len(fb_hold) else candidate

    result: dict[str, Any] = {
        "status": "succeeded",
        "model_name": request.model_name,
        "version": request.new_version,
        "parent_version": request.base_version,
        "task": meta.task,
        "candidate": candidate_metrics,
        "champion": scorer.evaluate(champion.estimator, holdout, base_hold, fb_hold),
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
    _write_version(root, request, champion, final, refit_on, training_uri, result, holdout_uri)
    return result


def _write_version(
    root: Path,
    request: TrainingRequest,
    champion: LoadedArtifact,
    candidate: Any,
    train: Dataset,
    training_uri: str,
    result: dict[str, Any],
    holdout_uri: str | None,
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
            holdout_data=holdout_uri,
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
