"""SHAP explainers: model-agnostic KernelShap and the exact TreeShap for tree ensembles."""

from __future__ import annotations

from typing import Any

import numpy as np

from explainops_server.errors import ConfigurationError
from explainops_server.explainers.base import Explainer, top_attributions


def _shap_payload(model: Any, row: np.ndarray, shap_values: list[Any], expected: Any, kind: str) -> dict:
    outputs = model.predict_outputs(row.reshape(1, -1))[0]
    per_output = [np.asarray(v).reshape(-1).tolist() for v in shap_values]
    if model.is_regression:
        predicted: dict[str, Any] = {"predicted_value": float(outputs[0])}
        shown = 0
    else:
        shown = int(np.argmax(outputs))
        predicted = {"predicted_class": shown, "predicted_class_name": model.class_names[shown]}
    return {
        "type": kind,
        **predicted,
        "expected_value": np.asarray(expected, dtype=np.float64).reshape(-1).tolist(),
        "shap_values": per_output,
        "feature_names": list(model.feature_names),
        "top_features": top_attributions(model.feature_names, per_output[min(shown, len(per_output) - 1)]),
    }


def _task(model: Any) -> str:
    return "regression" if model.is_regression else "classification"


class KernelShapExplainer(Explainer):
    name = "kernel_shap"
    defaults = {"nsamples": 200, "background_size": 50, "link": "identity", "l1_reg": False, "seed": 0}

    def fit(self, background: np.ndarray) -> None:
        from alibi.explainers import KernelShap

        self._explainer = KernelShap(
            self.model.predict_outputs,
            link=self.params["link"],
            task=_task(self.model),
            feature_names=list(self.model.feature_names),
            seed=self.params["seed"],
        )
        rows = min(int(self.params["background_size"]), len(background))
        self._explainer.fit(
            background, summarise_background=rows < len(background), n_background_samples=rows
        )

    def explain_row(self, row: np.ndarray) -> dict[str, Any]:
        result = self._explainer.explain(
            row.reshape(1, -1), nsamples=self.params["nsamples"], l1_reg=self.params["l1_reg"], silent=True
        )
        return _shap_payload(
            self.model, row, result.data["shap_values"], result.data["expected_value"], "kernel_shap"
        )

    @staticmethod
    def summarise(explanation: dict[str, Any]) -> dict[str, Any]:
        return {"type": explanation["type"], "top_features": explanation["top_features"]}


class TreeShapExplainer(Explainer):
    name = "tree_shap"
    # Path-dependent TreeShap needs no background and adds up exactly to predict_proba;
    # interventional uses `background_size` rows of the artifact's background sample.
    defaults = {"model_output": "raw", "feature_perturbation": "tree_path_dependent", "background_size": 100}
    perturbations = ("tree_path_dependent", "interventional")

    def fit(self, background: np.ndarray) -> None:
        from alibi.explainers import TreeShap

        perturbation = self.params["feature_perturbation"]
        if perturbation not in self.perturbations:
            raise ConfigurationError(
                f"tree_shap feature_perturbation must be one of {', '.join(self.perturbations)}, "
                f"not {perturbation!r}"
            )
        self._explainer = TreeShap(
            self.model.estimator,
            model_output=self.params["model_output"],
            feature_names=list(self.model.feature_names),
            task=_task(self.model),
        )
        if perturbation == "interventional":
            rows = min(int(self.params["background_size"]), len(background))
            self._explainer.fit(background[:rows])
        else:
            self._explainer.fit()

    def explain_row(self, row: np.ndarray) -> dict[str, Any]:
        result = self._explainer.explain(row.reshape(1, -1))
        return _shap_payload(
            self.model, row, result.data["shap_values"], result.data["expected_value"], "tree_shap"
        )

    @staticmethod
    def summarise(explanation: dict[str, Any]) -> dict[str, Any]:
        return {"type": explanation["type"], "top_features": explanation["top_features"]}
