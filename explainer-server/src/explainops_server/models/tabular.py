"""The served model: a scikit-learn classifier loaded from an artifact, with its name and readiness."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from explainops_server.errors import InvalidInput
from explainops_server.models import storage
from explainops_server.models.artifact import LoadedArtifact, load_artifact
from explainops_server.models.check import describe
from explainops_server.models.fast_forest import FlatForest
from explainops_server.models.features import FeatureSchema

FLAT_FOREST_MAX_ROWS = 1000


class TabularModel:
    """In-process classifier or regressor. `predict_outputs` is what predict and every explainer call.

    Rows are in the numeric form of `features.FeatureSchema` (categorical columns as codes);
    `schema.estimator_input` turns them into what the estimator was fitted on.
    """

    def __init__(
        self,
        name: str,
        uri: str,
        *,
        model_format: str | None = None,
        trust_pickle: bool = False,
        download_dir: Path | None = None,
    ):
        self.name = name
        self.ready = False
        self.uri = uri
        # where an s3:// version is downloaded to before loading
        self.download_dir = download_dir or Path(tempfile.gettempdir()) / "explainops-models"
        self.model_format = model_format
        self.trust_pickle = trust_pickle
        self.artifact: LoadedArtifact | None = None
        self._flat: FlatForest | None = None

    def load(self) -> bool:
        local = storage.fetch_version(self.uri, self.download_dir)
        self.artifact = load_artifact(local, model_format=self.model_format, trust_pickle=self.trust_pickle)
        # A bare tree ensemble on numeric columns walks its flattened trees on the numeric rows directly,
        # whether or not it was fitted on a DataFrame (a DataFrame per call would cost more than the walk).
        if not self.artifact.schema.categories:
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
    def task(self) -> str:
        return self.loaded.metadata.task

    @property
    def is_regression(self) -> bool:
        return self.loaded.metadata.is_regression

    @property
    def feature_names(self) -> list[str]:
        return self.loaded.metadata.feature_names

    @property
    def class_names(self) -> list[str]:
        return self.loaded.metadata.class_names

    @property
    def output_names(self) -> list[str]:
        return self.loaded.metadata.output_names

    @property
    def schema(self) -> FeatureSchema:
        return self.loaded.schema

    @property
    def categorical_names(self) -> dict[int, list[str]]:
        return self.loaded.schema.categorical_indices

    @property
    def estimator(self) -> Any:
        return self.loaded.estimator

    @property
    def description(self) -> str:
        return describe(self.loaded.estimator)

    def predict_outputs(self, x: np.ndarray) -> np.ndarray:
        """(rows, outputs): class probabilities, or one column holding the regression value."""
        if self.is_regression:
            return self._estimator_outputs(x, "predict").reshape(len(x), 1)
        return self.predict_proba(x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        # The flat forest wins on small batches (no per-call dispatch); scikit-learn's compiled
        # per-tree walk wins on large ones (KernelShap asks for ~10^4 rows at once).
        if self._flat is not None and len(x) <= FLAT_FOREST_MAX_ROWS:
            return self._flat.predict_proba(x)
        return self._estimator_outputs(x, "predict_proba")

    def _estimator_outputs(self, x: np.ndarray, method: str) -> np.ndarray:
        """The estimator's `predict_proba` or `predict` on rows in numeric form, checked to be finite."""
        with np.errstate(all="ignore"):
            try:
                # C order: some estimators (HistGradientBoosting) return a transposed view, which JSON refuses
                out = np.ascontiguousarray(
                    getattr(self.loaded.estimator, method)(self.schema.estimator_input(x)), dtype=np.float64
                )
            except (ValueError, FloatingPointError, OverflowError) as exc:
                out, problem = None, str(exc)
        if out is not None and np.isfinite(out).all():
            return out
        if out is not None:
            problem = "the model's outputs are not finite"
        raise InvalidInput(
            f"{self._culprit(x, method)}: values out of the range this model can compute with ({problem})"
        )

    def _culprit(self, x: np.ndarray, method: str, field: str = "instances") -> str:
        """Names the first row the estimator fails on (only on the error path, and only for request-sized
        batches: an explainer's perturbation batch is named as a whole)."""
        if len(x) > FLAT_FOREST_MAX_ROWS:
            return field
        predict = getattr(self.loaded.estimator, method)
        for i, row in enumerate(x):
            with np.errstate(all="ignore"):
                try:
                    ok = np.isfinite(np.asarray(predict(self.schema.estimator_input(row.reshape(1, -1))))).all()
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
        """Rows in numeric form, or `InvalidInput` naming the field and the row at fault."""
        return validate_instances(instances, self.schema, field=field, max_rows=max_rows)


def validate_instances(
    instances: Any, schema: FeatureSchema | int, *, field: str = "instances", max_rows: int | None = None
) -> np.ndarray:
    """Numeric matrices pass through a fast path; lists of rows (lists or objects) go through the schema."""
    if isinstance(schema, int):
        schema = FeatureSchema([f"x{i}" for i in range(schema)])
    n_features = len(schema.names)
    if isinstance(instances, np.ndarray) and instances.dtype != object:
        if instances.ndim == 1:
            instances = instances.reshape(1, -1)
        if instances.ndim != 2 or instances.shape[0] == 0:
            raise InvalidInput(f"{field}: expected a non-empty 2-D array, got shape {list(instances.shape)}")
        if instances.shape[1] != n_features:
            raise InvalidInput(f"{field}: expected {n_features} features, got {instances.shape[1]}")
        if np.issubdtype(instances.dtype, np.number) and instances.dtype != np.bool_ and not schema.categories:
            matrix = instances.astype(np.float64)
            bad = np.argwhere(~np.isfinite(matrix))
            if len(bad):
                r, c = (int(v) for v in bad[0])
                raise InvalidInput(
                    f"{field}.data[{r * n_features + c}] (row {r}, feature {c}): NaN and infinity are not accepted"
                )
        elif not schema.categories:
            raise InvalidInput(f"{field}: expected numbers, got dtype {instances.dtype}")
        else:
            matrix = schema.encode_rows(instances.tolist(), field)
    elif isinstance(instances, np.ndarray):
        if instances.ndim != 2 or instances.shape[0] == 0:
            raise InvalidInput(f"{field}: expected a non-empty 2-D array, got shape {list(instances.shape)}")
        matrix = schema.encode_rows(instances.tolist(), field)
    else:
        if not isinstance(instances, list):
            raise InvalidInput(f"{field}: expected a list of rows, got {type(instances).__name__}")
        if not instances:
            raise InvalidInput(f"{field}: at least one instance is required")
        if schema.categories or any(isinstance(row, dict) for row in instances):
            matrix = schema.encode_rows(instances, field)
        else:
            matrix = np.array(
                [_row_values(row, n_features, f"{field}[{i}]") for i, row in enumerate(instances)],
                dtype=np.float64,
            )
    if max_rows is not None and matrix.shape[0] > max_rows:
        raise InvalidInput(f"{field}: at most {max_rows} instances per request, got {matrix.shape[0]}")
    return matrix


def _row_values(row: Any, n_features: int, where: str) -> list[float]:
    """The fast path for an all-numeric model: a list of plain numbers."""
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
