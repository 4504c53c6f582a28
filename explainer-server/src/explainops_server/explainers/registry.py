"""The explicit explainer registry: backend -> configuration name -> implementation."""

from __future__ import annotations

from typing import Any

import numpy as np

from explainops_server.errors import ConfigurationError
from explainops_server.explainers.ale import AleExplainer
from explainops_server.explainers.alibi_backend import (
    AlibiAle,
    AlibiAnchorTabular,
    AlibiKernelShap,
    AlibiTreeShap,
)
from explainops_server.explainers.anchor import AnchorTabularExplainer
from explainops_server.explainers.base import ExplainableModel, Explainer
from explainops_server.explainers.kernel_shap import KernelShapExplainer
from explainops_server.explainers.tree_shap import TreeShapExplainer

DEFAULT_BACKEND = "explainops"

EXPLAINERS: dict[str, type[Explainer]] = {
    AnchorTabularExplainer.name: AnchorTabularExplainer,
    KernelShapExplainer.name: KernelShapExplainer,
    TreeShapExplainer.name: TreeShapExplainer,
    AleExplainer.name: AleExplainer,
}
ALIBI_EXPLAINERS: dict[str, type[Explainer]] = {
    AlibiAnchorTabular.name: AlibiAnchorTabular,
    AlibiKernelShap.name: AlibiKernelShap,
    AlibiTreeShap.name: AlibiTreeShap,
    AlibiAle.name: AlibiAle,
}
BACKENDS: dict[str, dict[str, type[Explainer]]] = {DEFAULT_BACKEND: EXPLAINERS, "alibi": ALIBI_EXPLAINERS}


def explainer_class(name: str, backend: str = DEFAULT_BACKEND) -> type[Explainer]:
    try:
        explainers = BACKENDS[backend]
    except KeyError:
        raise ConfigurationError(f"unknown explainer backend {backend!r}; known: {', '.join(BACKENDS)}") from None
    try:
        return explainers[name]
    except KeyError:
        raise ConfigurationError(f"unknown explainer {name!r}; known: {', '.join(explainers)}") from None


def build_explainer(
    name: str,
    model: ExplainableModel,
    background: np.ndarray,
    params: dict[str, Any] | None = None,
    backend: str = DEFAULT_BACKEND,
) -> Explainer:
    return explainer_class(name, backend)(model, background, params or {})
