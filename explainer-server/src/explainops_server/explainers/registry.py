"""The explicit explainer registry: configuration name -> implementation."""

from __future__ import annotations

from typing import Any

import numpy as np

from explainops_server.errors import ConfigurationError
from explainops_server.explainers.ale import AleExplainer
from explainops_server.explainers.anchor import AnchorTabularExplainer
from explainops_server.explainers.base import ExplainableModel, Explainer
from explainops_server.explainers.shap import KernelShapExplainer, TreeShapExplainer

EXPLAINERS: dict[str, type[Explainer]] = {
    AnchorTabularExplainer.name: AnchorTabularExplainer,
    KernelShapExplainer.name: KernelShapExplainer,
    TreeShapExplainer.name: TreeShapExplainer,
    AleExplainer.name: AleExplainer,
}


def build_explainer(
    name: str, model: ExplainableModel, background: np.ndarray, params: dict[str, Any] | None = None
) -> Explainer:
    try:
        cls = EXPLAINERS[name]
    except KeyError:
        raise ConfigurationError(f"unknown explainer {name!r}; known: {', '.join(EXPLAINERS)}") from None
    return cls(model, background, params or {})
