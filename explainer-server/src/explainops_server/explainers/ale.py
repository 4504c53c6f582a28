"""Accumulated Local Effects: a global explanation of how each feature moves the class probabilities."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from explainops_server.errors import UnsupportedOperation
from explainops_server.explainers.base import Explainer


class AleExplainer(Explainer):
    name = "ale"
    defaults = {"min_bin_points": 4}

    def fit(self, background: np.ndarray) -> None:
        self._background = background
        self._result: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def explain_row(self, row: np.ndarray) -> dict[str, Any]:
        raise UnsupportedOperation("ALE is a global explanation; use GET /v1/models/{name}/explanations/ale")

    @staticmethod
    def summarise(explanation: dict[str, Any]) -> dict[str, Any]:
        return {"type": "ale"}

    def explain_global(self) -> dict[str, Any]:
        with self._lock:  # computed once, on first use or at load when ALE is the configured explainer
            if self._result is None:
                self._result = self._compute()
            return self._result

    def _compute(self) -> dict[str, Any]:
        from alibi.explainers import ALE

        explainer = ALE(
            self.model.predict_outputs,
            feature_names=list(self.model.feature_names),
            target_names=list(self.model.output_names),
        )
        # ALE needs ordered values: categorical columns (held as codes) are left out.
        categorical = set(self.model.categorical_names)
        numeric = [i for i in range(len(self.model.feature_names)) if i not in categorical]
        if not numeric:
            raise UnsupportedOperation("ALE needs at least one numeric column; every column is categorical")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy percentile(interpolation=)
            result = explainer.explain(
                self._background, features=numeric, min_bin_points=self.params["min_bin_points"]
            )
        data = result.data
        features = []
        for i, name in enumerate(data["feature_names"]):
            features.append(
                {
                    "feature": str(name),
                    "feature_values": np.asarray(data["feature_values"][i]).tolist(),
                    "ale_values": np.asarray(data["ale_values"][i]).tolist(),
                    "ale0": np.asarray(data["ale0"][i]).tolist(),
                }
            )
        return {
            "type": "ale",
            "target_names": [str(t) for t in data["target_names"]],
            "constant_value": np.asarray(data["constant_value"]).tolist(),
            "features": features,
            "skipped_categorical": [self.model.feature_names[i] for i in sorted(categorical)],
        }
