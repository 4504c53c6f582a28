"""AnchorTabular: an if-then rule that keeps the prediction with high precision."""

from __future__ import annotations

from typing import Any

import numpy as np

from explainops_server.errors import UnsupportedOperation
from explainops_server.explainers.base import Explainer

REGRESSION_REFUSAL = (
    "AnchorTabular is defined for classifiers only (an anchor keeps a predicted class); "
    "explain a regressor with KernelShap, TreeShap or ALE"
)


class AnchorTabularExplainer(Explainer):
    name = "anchor_tabular"
    # Tuned against alibi's defaults (batch_size=100, coverage_samples=10000): larger sampling batches
    # mean fewer model calls, and each call is cheap because the forest is evaluated vectorised.
    defaults = {
        "threshold": 0.95,
        "batch_size": 500,
        "coverage_samples": 2000,
        "beam_size": 1,
        "max_anchor_size": None,
        "delta": 0.1,
        "tau": 0.15,
        "disc_perc": [25, 50, 75],
        "seed": 0,
    }

    def fit(self, background: np.ndarray) -> None:
        from alibi.explainers import AnchorTabular

        if self.model.is_regression:
            self._explainer = None  # every explain_row answers REGRESSION_REFUSAL
            return
        predict_outputs = self.model.predict_outputs
        self._explainer = AnchorTabular(
            lambda x: np.argmax(predict_outputs(x), axis=1),
            feature_names=list(self.model.feature_names),
            categorical_names=self.model.categorical_names,
            seed=self.params["seed"],
        )
        self._explainer.fit(background, disc_perc=tuple(self.params["disc_perc"]))

    def explain_row(self, row: np.ndarray) -> dict[str, Any]:
        if self._explainer is None:
            raise UnsupportedOperation(REGRESSION_REFUSAL)
        p = self.params
        result = self._explainer.explain(
            row.reshape(1, -1),
            threshold=p["threshold"],
            batch_size=p["batch_size"],
            coverage_samples=p["coverage_samples"],
            beam_size=p["beam_size"],
            delta=p["delta"],
            tau=p["tau"],
            max_anchor_size=p["max_anchor_size"],
        )
        predicted = int(np.argmax(self.model.predict_outputs(row.reshape(1, -1))[0]))
        return {
            "type": "anchor",
            "anchor": list(result.data["anchor"]),
            "precision": float(np.asarray(result.data["precision"]).item()),
            "coverage": float(np.asarray(result.data["coverage"]).item()),
            "predicted_class": predicted,
            "predicted_class_name": self.model.class_names[predicted],
        }

    @staticmethod
    def summarise(explanation: dict[str, Any]) -> dict[str, Any]:
        return {k: explanation[k] for k in ("type", "anchor", "precision", "coverage")}
