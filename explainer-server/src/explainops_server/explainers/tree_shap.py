"""TreeShap through shap's TreeExplainer (MIT, C++): exact Shapley values for tree ensembles."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from explainops_server.explainers.kinds import TreeShapKind


def per_class(values: object, n_classes: int, n_features: int) -> np.ndarray:
    """shap's output as [class, feature] for one row, whichever of its layouts it used."""
    if isinstance(values, list):  # one [row, feature] array per class
        return np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in values])
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 3:  # [row, feature, class]
        return array[0].T
    return array.reshape(1, n_features)  # a single output


class TreeShapExplainer(TreeShapKind):
    """Path-dependent TreeShap needs no background and adds up exactly to predict_proba; interventional
    uses `background_size` rows of the artifact's background sample."""

    backend: ClassVar[str] = "explainops"

    def fit(self, background: np.ndarray) -> None:
        import shap

        config = self.config
        data = None
        if config.feature_perturbation == "interventional":
            data = background[: min(config.background_size, len(background))]
        self._explainer = shap.TreeExplainer(
            self.model.estimator,
            data=data,
            model_output=config.model_output,
            feature_perturbation=config.feature_perturbation,
        )

    def attributions(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = self._explainer.shap_values(row.reshape(1, -1), check_additivity=False)
        n_classes = len(self.model.output_names)
        return per_class(values, n_classes, len(row)), np.asarray(self._explainer.expected_value).reshape(-1)
