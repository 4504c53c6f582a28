"""The optional Alibi backend (alibi 0.9.6, Business Source License 1.1: see the README).

Installed only from requirements-alibi.lock, in its own venv and image flavour; alibi is imported when
an explainer is fitted, so the rest of the server never needs it. Same parameters, same response shape.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np

from explainops_server.errors import ConfigurationError
from explainops_server.explainers.kinds import AleKind, AnchorKind, KernelShapKind, TreeShapKind


def _alibi_explainers():
    try:
        from alibi import explainers
    except ModuleNotFoundError as exc:
        if exc.name != "alibi":  # alibi is there but broken: say what is missing, not "not installed"
            raise
        raise ConfigurationError(
            "explainer backend 'alibi' needs the alibi flavour (requirements-alibi.lock); alibi is not installed"
        ) from exc
    return explainers


class AlibiAnchorTabular(AnchorKind):
    backend: ClassVar[str] = "alibi"

    def fit(self, background: np.ndarray) -> None:
        predict_outputs = self.model.predict_outputs
        self._explainer = _alibi_explainers().AnchorTabular(
            lambda x: np.argmax(predict_outputs(x), axis=1),
            feature_names=list(self.model.feature_names),
            categorical_names=dict(self.model.categorical_names),
            seed=self.config.seed,
        )
        self._explainer.fit(background, disc_perc=tuple(self.config.disc_perc))

    def anchor(self, row: np.ndarray) -> tuple[list[str], float, float]:
        c = self.config
        data = self._explainer.explain(
            row.reshape(1, -1),
            threshold=c.threshold,
            batch_size=c.batch_size,
            coverage_samples=c.coverage_samples,
            beam_size=c.beam_size,
            delta=c.delta,
            tau=c.tau,
            max_anchor_size=c.max_anchor_size,
        ).data
        return (
            list(data["anchor"]),
            float(np.asarray(data["precision"]).item()),
            float(np.asarray(data["coverage"]).item()),
        )


class AlibiKernelShap(KernelShapKind):
    backend: ClassVar[str] = "alibi"

    def fit(self, background: np.ndarray) -> None:
        c = self.config
        self._explainer = _alibi_explainers().KernelShap(
            self.model.predict_outputs,
            link=c.link,
            feature_names=list(self.model.feature_names),
            task="regression" if self.model.is_regression else "classification",
            seed=c.seed,
        )
        rows = min(c.background_size, len(background))
        self._explainer.fit(background, summarise_background=rows < len(background), n_background_samples=rows)

    def attributions(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        data = self._explainer.explain(
            row.reshape(1, -1), nsamples=self.config.nsamples, l1_reg=False, silent=True
        ).data
        return np.stack([np.asarray(v).reshape(-1) for v in data["shap_values"]]), np.asarray(
            data["expected_value"]
        ).reshape(-1)


class AlibiTreeShap(TreeShapKind):
    backend: ClassVar[str] = "alibi"

    def fit(self, background: np.ndarray) -> None:
        c = self.config
        self._explainer = _alibi_explainers().TreeShap(
            self.model.estimator,
            model_output=c.model_output,
            feature_names=list(self.model.feature_names),
            task="regression" if self.model.is_regression else "classification",
        )
        if c.feature_perturbation == "interventional":
            self._explainer.fit(background[: min(c.background_size, len(background))])
        else:
            self._explainer.fit()

    def attributions(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        data = self._explainer.explain(row.reshape(1, -1)).data
        return np.stack([np.asarray(v).reshape(-1) for v in data["shap_values"]]), np.asarray(
            data["expected_value"]
        ).reshape(-1)


class AlibiAle(AleKind):
    backend: ClassVar[str] = "alibi"

    def curves(self, background: np.ndarray):
        explainer = _alibi_explainers().ALE(
            self.model.predict_outputs,
            feature_names=list(self.model.feature_names),
            target_names=list(self.model.output_names),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy percentile(interpolation=)
            data = explainer.explain(
                background, features=self.numeric_features, min_bin_points=self.config.min_bin_points
            ).data
        return (
            [np.asarray(v) for v in data["feature_values"]],
            [np.asarray(v) for v in data["ale_values"]],
            [np.asarray(v) for v in data["ale0"]],
            # alibi's constant_value is one number over all classes; the shared shape has one per class
            self.model.predict_outputs(background).mean(axis=0),
        )
