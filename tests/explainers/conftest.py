"""Fixtures of the explainer contract and parity tests.

These tests run twice: in the default venv against the project's own backend, and in .venv-alibi
(`make test-alibi`) against the Alibi backend, chosen by EXPLAINOPS_TEST_BACKEND. They need only the
explainops_server package, so they run in either venv.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from explainops_server.models.tabular import TabularModel

BACKEND = os.environ.get("EXPLAINOPS_TEST_BACKEND", "explainops")


@dataclass(frozen=True)
class Fitted:
    """A served model loaded the way the server loads it, with rows no explainer was fitted on."""

    model: TabularModel
    rows: np.ndarray

    @property
    def background(self) -> np.ndarray:
        return self.model.loaded.background


def load(version_dir: Path, rows: np.ndarray) -> Fitted:
    model = TabularModel("m", str(version_dir))
    model.load()
    return Fitted(model, rows)


def write_breast_cancer(root: Path, n_estimators: int, max_depth: int) -> tuple[Path, np.ndarray]:
    from explainops_server.models.artifact import read_feature_csv, read_metadata
    from explainops_server.models.example import train_example

    out = train_example(root / "models", root / "data", seed=0, n_estimators=n_estimators, max_depth=max_depth)
    rows, _ = read_feature_csv(out.holdout_csv, read_metadata(out.version_dir).feature_names)
    return out.version_dir, rows


def write_iris(root: Path) -> tuple[Path, np.ndarray]:
    """Iris (4 features, 3 classes): few enough features for KernelShap to enumerate every coalition."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    from explainops_server.models.artifact import write_artifact

    data = load_iris()
    x_train, x_hold, y_train, _ = train_test_split(
        data.data, data.target, test_size=0.2, random_state=0, stratify=data.target
    )
    estimator = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(x_train, y_train)
    version_dir = root / "iris" / "v1"
    write_artifact(
        version_dir,
        estimator=estimator,
        name="iris",
        version="v1",
        feature_names=[str(f) for f in data.feature_names],
        class_names=[str(c) for c in data.target_names],
        background=x_train[::4],
    )
    return version_dir, x_hold


@pytest.fixture(scope="session")
def backend() -> str:
    return BACKEND


@pytest.fixture(scope="session")
def breast_cancer_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """RandomForest(100 trees, depth 6) on breast_cancer: the example model."""
    return write_breast_cancer(tmp_path_factory.mktemp("bc"), 100, 6)


@pytest.fixture(scope="session")
def small_breast_cancer_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    return write_breast_cancer(tmp_path_factory.mktemp("bc-small"), 10, 3)


@pytest.fixture(scope="session")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    return write_iris(tmp_path_factory.mktemp("iris"))


@pytest.fixture(scope="session")
def breast_cancer(breast_cancer_dir: tuple[Path, np.ndarray]) -> Fitted:
    return load(*breast_cancer_dir)


@pytest.fixture(scope="session")
def small_breast_cancer(small_breast_cancer_dir: tuple[Path, np.ndarray]) -> Fitted:
    return load(*small_breast_cancer_dir)


@pytest.fixture(scope="session")
def iris(iris_dir: tuple[Path, np.ndarray]) -> Fitted:
    return load(*iris_dir)
