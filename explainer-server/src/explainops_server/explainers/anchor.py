"""AnchorTabular on this project's own search (`anchor_search`)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from explainops_server.explainers.anchor_search import AnchorSearch, Discretiser, describe
from explainops_server.explainers.kinds import AnchorKind


class AnchorTabularExplainer(AnchorKind):
    backend: ClassVar[str] = "explainops"

    def fit(self, background: np.ndarray) -> None:
        self._background = background
        self._discretiser = Discretiser.fit(background, self.config.disc_perc, self.model.categorical_names)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.model.predict_outputs(x), axis=1)

    def search(self, row: np.ndarray) -> AnchorSearch:
        c = self.config
        return AnchorSearch(
            self._predict,
            self._background,
            self._discretiser,
            row,
            threshold=c.threshold,
            delta=c.delta,
            tau=c.tau,
            batch_size=c.batch_size,
            beam_size=c.beam_size,
            coverage_samples=c.coverage_samples,
            max_anchor_size=c.max_anchor_size,
            rng=np.random.default_rng(c.seed),
        )

    def anchor(self, row: np.ndarray) -> tuple[list[str], float, float]:
        search = self.search(row)
        result = search.run()
        chosen = [search.predicates[p] for p in result.anchor]
        return (
            describe(chosen, self.model.feature_names, self.model.categorical_names),
            result.precision,
            result.coverage,
        )
