"""The served model: a scikit-learn classifier loaded from an artifact, with its name and readiness."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from explainops_server.errors import InvalidInput
from explainops_server.models.artifact import LoadedArtifact, load_artifact
from explainops_server.models.fast_forest import FlatForest

FLAT_FOREST_MAX_ROWS = 1000


class TabularModel:
    """In-process classifier. `predict_proba` is what predict and every explainer call."""

    def __init__(self, name: str, uri: str, *, model_format: str | None = None, trust_pickle: bool = False):
        self.name = name
        self.ready = False
        self.uri = uri
        self.model_format = model_format
        self.trust_pickle = trust_pickle
        self.artifact: LoadedArtifact | None = None
        self._flat: FlatForest | None = None

    def load(self) -> bool:
        self.artifact = load_artifact(
            self.uri, model_format=self.model_format, trust_pickle=self.trust_pickle
        )
        self._flat = FlatForest.from_estimator(self.artifact.estimator)
        self.ready = True
        return self.ready

    @property
    def loaded(self) -> LoadedArtifact:
        if self.artifact is None:
            raise RuntimeError("model used before load()")
        return self.artifact

    @property
    def version(self) -> str:
        return self.loaded.metadata.version

    @property
    def feature_names(self) -> list[str]:
        return self.loaded.metadata.feature_names

    @property
    def class_names(self) -> list[str]:
        return self.loaded.metadata.class_names

    @property
    def estimator(self) -> Any:
        return self.loaded.estimator

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        # The flat forest wins on small batches (no per-call dispatch); scikit-learn's compiled
        # per-tree walk wins on large ones (KernelShap asks for ~10^4 rows at once).
        if self._flat is not None and len(x) <= FLAT_FOREST_MAX_ROWS:
            return self._flat.predict_proba(x)
        return self._estimator_proba(x)

    def _estimator_proba(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            try:
                proba = np.asarray(self.loaded.estimator.predict_proba(x), dtype=np.float64)
            except (ValueError, FloatingPointError, OverflowError) as exc:
                proba, problem = None, str(exc)
        if proba is not None and np.isfinite(proba).all():
            return proba
        if proba is not None:
            problem = "the model's probabilities are not finite"
        raise InvalidInput(f"{self._culprit(x)}: values out of the range this model can compute with ({problem})")

    def _culprit(self, x: np.ndarray, field: str = "instances") -> str:
        """Names the first row the estimator fails on (only on the error path, and only for request-sized
        batches: an explainer's perturbation batch is named as a whole)."""
        if len(x) > FLAT_FOREST_MAX_ROWS:
            return field
        for i, row in enumerate(x):
            with np.errstate(all="ignore"):
                try:
                    ok = np.isfinite(self.loaded.estimator.predict_proba(row.reshape(1, -1))).all()
                except (ValueError, FloatingPointError, OverflowError):
                    ok = False
            if not ok:
                return f"{field}[{i}]"
        return field

    def predict_class(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(x), axis=1)

    def validate(
        self, instances: Any, *, field: str = "instances", max_rows: int | None = None
    ) -> np.ndarray:
        """Rows as a float64 matrix, or `InvalidInput` naming the field and the row at fault."""
        return validate_instances(instances, len(self.feature_names), field=field, max_rows=max_rows)


def _row_values(row: Any, n_features: int, where: str) -> list[float]:
    if not isinstance(row, Sequence) or isinstance(row, str | bytes):
        raise InvalidInput(f"{where}: expected a list of {n_features} numbers, got {type(row).__name__}")
    if len(row) != n_features:
        raise InvalidInput(f"{where}: expected {n_features} features, got {len(row)}")
    values = []
    for j, value in enumerate(row):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{where}[{j}]: expected a number, got {type(value).__name__} {value!r:.40}")
        if not math.isfinite(value):
            raise InvalidInput(f"{where}[{j}]: NaN and infinity are not accepted")
        values.append(float(value))
    return values


def validate_instances(
    instances: Any, n_features: int, *, field: str = "instances", max_rows: int | None = None
) -> np.ndarray:
    if isinstance(instances, np.ndarray):
        if instances.ndim == 1:
            instances = instances.reshape(1, -1)
        if instances.ndim != 2 or instances.shape[0] == 0:
            raise InvalidInput(f"{field}: expected a non-empty 2-D array, got shape {list(instances.shape)}")
        if instances.shape[1] != n_features:
            raise InvalidInput(f"{field}: expected {n_features} features, got {instances.shape[1]}")
        if not np.issubdtype(instances.dtype, np.number) or instances.dtype == np.bool_:
            raise InvalidInput(f"{field}: expected numbers, got dtype {instances.dtype}")
        matrix = instances.astype(np.float64)
        bad = np.argwhere(~np.isfinite(matrix))
        if len(bad):
            r, c = (int(v) for v in bad[0])
            raise InvalidInput(
                f"{field}.data[{r * n_features + c}] (row {r}, feature {c}): NaN and infinity are not accepted"
            )
    else:
        if not isinstance(instances, list):
            raise InvalidInput(f"{field}: expected a list of rows, got {type(instances).__name__}")
        if not instances:
            raise InvalidInput(f"{field}: at least one instance is required")
        matrix = np.array(
            [_row_values(row, n_features, f"{field}[{i}]") for i, row in enumerate(instances)],
            dtype=np.float64,
        )
    if max_rows is not None and matrix.shape[0] > max_rows:
        raise InvalidInput(f"{field}: at most {max_rows} instances per request, got {matrix.shape[0]}")
    return matrix
