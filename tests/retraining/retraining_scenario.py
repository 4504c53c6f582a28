"""A drift scenario on scikit-learn's breast_cancer data, shared by the retraining tests.

Drift: a new measuring device reports every size feature (radius, perimeter, area) 1.8x larger.
The diagnosis does not change, so the relation between the measured features and the label does:
the champion calls most drifted benign tumours malignant. Experts label drifted predictions; the
retrained model must learn the new relation from those labels.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explainops_server.feedback import open_store
from explainops_server.feedback.base import FeedbackRecord, PredictionRecord
from explainops_server.models.artifact import load_artifact, read_feature_csv
from explainops_server.models.example import train_example

MODEL_NAME = "breast-cancer"
SIZE_SCALE = 1.8


def size_columns(feature_names: list[str]) -> list[int]:
    return [i for i, n in enumerate(feature_names) if any(k in n for k in ("radius", "perimeter", "area"))]


def drift(features: np.ndarray, feature_names: list[str]) -> np.ndarray:
    drifted = np.array(features, dtype=np.float64, copy=True)
    drifted[:, size_columns(feature_names)] *= SIZE_SCALE
    return drifted


@dataclass
class World:
    root: Path  # model root: <root>/v1 is the champion
    train_csv: Path
    holdout_csv: Path
    feature_names: list[str]

    def version_dir(self, version: str) -> Path:
        return self.root / version

    def holdout(self) -> tuple[np.ndarray, np.ndarray]:
        features, target = read_feature_csv(self.holdout_csv, self.feature_names)
        assert target is not None
        return features, target

    def train_rows(self) -> tuple[np.ndarray, np.ndarray]:
        features, target = read_feature_csv(self.train_csv, self.feature_names)
        assert target is not None
        return features, target

    def accuracy(self, version: str, features: np.ndarray, target: np.ndarray) -> float:
        estimator = load_artifact(str(self.version_dir(version))).estimator
        return float(np.mean(estimator.predict(features) == target))


def make_world(base: Path) -> World:
    outputs = train_example(base / "models" / MODEL_NAME, base / "data", seed=0, name=MODEL_NAME)
    metadata = load_artifact(str(outputs.version_dir)).metadata
    return World(outputs.version_dir.parent, outputs.train_csv, outputs.holdout_csv, metadata.feature_names)


def record_labelled(
    dsn: str,
    model_version: str,
    features: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    *,
    rating: int | None = None,
) -> list[str]:
    """Predictions as the server records them, then one expert label per prediction."""
    now = time.time()
    ids = [uuid.uuid4().hex for _ in range(len(labels))]
    predictions = [
        PredictionRecord(
            prediction_id=pid,
            model_name=MODEL_NAME,
            model_version=model_version,
            inputs=[float(v) for v in row],
            probabilities=[1.0 - float(p), float(p)],
            predicted_label=int(p),
            created_at=now + i * 1e-3,
        )
        for i, (pid, row, p) in enumerate(zip(ids, features, predicted, strict=True))
    ]
    feedback = [
        FeedbackRecord(
            feedback_id=f"fb-{pid}",
            prediction_id=pid,
            model_name=MODEL_NAME,
            created_at=now + 1 + i * 1e-3,
            label=int(label),
            correct=bool(int(label) == int(p)),
            explanation_rating=rating,
        )
        for i, (pid, label, p) in enumerate(zip(ids, labels, predicted, strict=True))
    ]
    with open_store(dsn) as store:
        store.record_predictions(predictions)
        outcomes = store.add_feedback(feedback, atomic=True)
    assert {o.status for o in outcomes} == {"created"}
    return ids


def record_drifted_feedback(world: World, dsn: str, count: int, *, seed: int = 1) -> None:
    """`count` drifted training rows predicted by the champion, labelled with the true diagnosis."""
    features, target = world.train_rows()
    rows = np.random.default_rng(seed).permutation(len(target))[:count]
    drifted = drift(features[rows], world.feature_names)
    champion = load_artifact(str(world.version_dir("v1"))).estimator
    record_labelled(dsn, "v1", drifted, target[rows], champion.predict(drifted))
