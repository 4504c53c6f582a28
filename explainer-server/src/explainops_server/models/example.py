"""The example model: a RandomForest on scikit-learn's bundled breast_cancer data set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explainops_server.models.artifact import write_artifact, write_feature_csv

EXAMPLE_PARAMS = {"n_estimators": 100, "max_depth": 6, "random_state": 0}
BACKGROUND_ROWS = 100


@dataclass(frozen=True)
class ExampleOutputs:
    version_dir: Path
    train_csv: Path
    holdout_csv: Path


def train_example(
    out_dir: Path | str,
    data_dir: Path | str,
    seed: int = 0,
    *,
    name: str = "breast-cancer",
    version: str = "v1",
    n_estimators: int = 100,
    max_depth: int = 6,
    holdout_fraction: float = 0.25,
    data_uri: str | None = None,
) -> ExampleOutputs:
    """Train on breast_cancer, write `<out_dir>/<version>/` and `<data_dir>/{train,holdout}.csv`.

    The metadata records where the CSVs are: under `data_uri` (`file:///mnt/models/data/x`: where the
    serving and training pods will see `data_dir` once it is uploaded), else `data_dir` itself."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    feature_names = [str(f) for f in data.feature_names]
    x_train, x_hold, y_train, y_hold = train_test_split(
        data.data, data.target, test_size=holdout_fraction, random_state=seed, stratify=data.target
    )
    params = {"n_estimators": n_estimators, "max_depth": max_depth, "random_state": seed}
    estimator = RandomForestClassifier(**params).fit(x_train, y_train)

    data_dir = Path(data_dir).resolve()
    train_csv, holdout_csv = data_dir / "train.csv", data_dir / "holdout.csv"
    write_feature_csv(train_csv, feature_names, x_train, y_train)
    write_feature_csv(holdout_csv, feature_names, x_hold, y_hold)

    rng = np.random.default_rng(seed)
    background = x_train[rng.choice(len(x_train), size=min(BACKGROUND_ROWS, len(x_train)), replace=False)]
    version_dir = Path(out_dir).resolve() / version
    write_artifact(
        version_dir,
        estimator=estimator,
        name=name,
        version=version,
        feature_names=feature_names,
        class_names=[str(c) for c in data.target_names],
        background=background,
        params=params,
        training_data=_recorded(train_csv, data_uri),
        holdout_data=_recorded(holdout_csv, data_uri),  # never trained on by any version: the gate's base holdout
    )
    return ExampleOutputs(version_dir, train_csv, holdout_csv)


def _recorded(csv: Path, data_uri: str | None) -> str:
    return f"{data_uri.rstrip('/')}/{csv.name}" if data_uri else csv.as_uri()
