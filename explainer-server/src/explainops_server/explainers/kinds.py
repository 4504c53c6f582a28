"""The explanation kinds and their one response shape, shared by every backend.

A backend subclasses one of these and supplies only the computation; the payload, the summary recorded
with the prediction and the parameters are the same whichever backend computed them.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from explainops_server.errors import UnsupportedOperation
from explainops_server.explainers.base import Explainer, top_attributions
from explainops_server.explainers.params import EXPLAINER_PARAMS, ExplainerParams

ANCHORS_NEED_A_CLASSIFIER = (
    "AnchorTabular is defined for classifiers only (an anchor is a rule that keeps the predicted class); "
    "explain a regressor with KernelShap, TreeShap or ALE"
)


class ShapExplainer(Explainer):
    """Additive attributions per original column: `shap_values[output][feature]`, `expected_value[output]`
    (the outputs are the classes, or a regressor's one value)."""

    def explain_row(self, row: np.ndarray) -> dict[str, Any]:
        values, expected = self.attributions(row)
        outputs = self.model.predict_outputs(row.reshape(1, -1))[0]
        per_output = [np.asarray(v, dtype=np.float64).reshape(-1).tolist() for v in values]
        if self.model.is_regression:
            shown, predicted = 0, {"predicted_value": float(outputs[0])}
        else:
            shown = int(np.argmax(outputs))
            predicted = {"predicted_class": shown, "predicted_class_name": self.model.class_names[shown]}
        return {
            "type": self.name,
            **predicted,
            "expected_value": np.asarray(expected, dtype=np.float64).reshape(-1).tolist(),
            "shap_values": per_output,
            "feature_names": list(self.model.feature_names),
            "top_features": top_attributions(
                self.model.feature_names, per_output[min(shown, len(per_output) - 1)]
            ),
        }

    @abstractmethod
    def attributions(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(values of shape [class, feature], expected value of shape [class])."""

    @staticmethod
    def summarise(explanation: dict[str, Any]) -> dict[str, Any]:
        return {"type": explanation["type"], "top_features": explanation["top_features"]}


class KernelShapKind(ShapExplainer):
    name: ClassVar[str] = "kernel_shap"
    params_model: ClassVar[type[ExplainerParams]] = EXPLAINER_PARAMS["kernel_shap"]


class TreeShapKind(ShapExplainer):
    name: ClassVar[str] = "tree_shap"
    params_model: ClassVar[type[ExplainerParams]] = EXPLAINER_PARAMS["tree_shap"]


class AnchorKind(Explainer):
    """An if-then rule that keeps the prediction with high precision."""

    name: ClassVar[str] = "anchor_tabular"
    params_model: ClassVar[type[ExplainerParams]] = EXPLAINER_PARAMS["anchor_tabular"]

    def explain_row(self, row: np.ndarray) -> dict[str, Any]:
        if self.model.is_regression:
            raise UnsupportedOperation(ANCHORS_NEED_A_CLASSIFIER)
        anchor, precision, coverage = self.anchor(row)
        predicted = int(np.argmax(self.model.predict_outputs(row.reshape(1, -1))[0]))
        return {
            "type": "anchor",
            "anchor": [str(a) for a in anchor],
            "precision": float(precision),
            "coverage": float(coverage),
            "predicted_class": predicted,
            "predicted_class_name": self.model.class_names[predicted],
        }

    @abstractmethod
    def anchor(self, row: np.ndarray) -> tuple[list[str], float, float]:
        """(predicates, precision, coverage) of the anchor of one instance."""

    @staticmethod
    def summarise(explanation: dict[str, Any]) -> dict[str, Any]:
        return {k: explanation[k] for k in ("type", "anchor", "precision", "coverage")}


class AleKind(Explainer):
    """Accumulated Local Effects: a global explanation, computed once per fitted explainer. ALE needs
    ordered values, so categorical columns are left out (named in `skipped_categorical`)."""

    name: ClassVar[str] = "ale"
    params_model: ClassVar[type[ExplainerParams]] = EXPLAINER_PARAMS["ale"]

    def fit(self, background: np.ndarray) -> None:
        self._background = background
        self._result: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def explain_row(self, row: np.ndarray) -> dict[str, Any]:
        raise UnsupportedOperation("ALE is a global explanation; use GET /v1/models/{name}/explanations/ale")

    @staticmethod
    def summarise(explanation: dict[str, Any]) -> dict[str, Any]:
        return {"type": "ale"}

    @property
    def numeric_features(self) -> list[int]:
        return [j for j in range(len(self.model.feature_names)) if j not in self.model.categorical_names]

    def explain_global(self) -> dict[str, Any]:
        with self._lock:  # computed once, on first use or at load when ALE is the configured explainer
            if self._result is None:
                if not self.numeric_features:
                    raise UnsupportedOperation("ALE needs at least one numeric column; every column is categorical")
                self._result = self._payload(*self.curves(self._background))
            return self._result

    @abstractmethod
    def curves(
        self, background: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Per numeric feature (`numeric_features`, in order): grid values [point], ALE [point, output],
        ale0 [output]; constant value [output]."""

    def _payload(
        self,
        grids: list[np.ndarray],
        ale_values: list[np.ndarray],
        ale0: list[np.ndarray],
        constant: np.ndarray,
    ) -> dict[str, Any]:
        features = [
            {
                "feature": str(name),
                "feature_values": np.asarray(grids[i], dtype=np.float64).tolist(),
                "ale_values": np.asarray(ale_values[i], dtype=np.float64).tolist(),
                "ale0": np.asarray(ale0[i], dtype=np.float64).tolist(),
            }
            for i, name in enumerate(self.model.feature_names[j] for j in self.numeric_features)
        ]
        return {
            "type": "ale",
            "target_names": [str(t) for t in self.model.output_names],
            "constant_value": np.asarray(constant, dtype=np.float64).reshape(-1).tolist(),
            "features": features,
            "skipped_categorical": [self.model.feature_names[j] for j in sorted(self.model.categorical_names)],
        }
