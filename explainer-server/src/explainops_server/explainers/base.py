"""The explainer interface every backend implements."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

import numpy as np

from explainops_server.errors import UnsupportedOperation
from explainops_server.explainers.params import ExplainerParams, parse_params


class ExplainableModel(Protocol):
    """What an explainer needs from the served model; it is called in-process."""

    feature_names: list[str]
    class_names: list[str]
    estimator: Any

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


class Explainer(ABC):
    """Fitted once at load from the artifact background; `explain` runs in a worker thread."""

    name: ClassVar[str]
    backend: ClassVar[str]
    params_model: ClassVar[type[ExplainerParams]]

    def __init__(self, model: ExplainableModel, background: np.ndarray, params: dict[str, Any]) -> None:
        self.model = model
        self.config = parse_params(self.name, self.params_model, params)
        self.params = self.config.model_dump()
        self.fit(np.asarray(background, dtype=np.float64))

    @property
    def config_key(self) -> str:
        """Identifies the explainer configuration in cache keys."""
        return self._key(self.params)

    @classmethod
    def key_for(cls, params: dict[str, Any]) -> str:
        """`config_key` of this explainer with these parameters, without fitting one."""
        return cls._key(parse_params(cls.name, cls.params_model, params).model_dump())

    @classmethod
    def _key(cls, checked_params: dict[str, Any]) -> str:
        return json.dumps({"explainer": cls.name, "backend": cls.backend, **checked_params}, sort_keys=True, default=str)

    @abstractmethod
    def fit(self, background: np.ndarray) -> None: ...

    @abstractmethod
    def explain_row(self, row: np.ndarray) -> dict[str, Any]:
        """JSON-ready explanation of one instance (1-D array)."""

    @staticmethod
    @abstractmethod
    def summarise(explanation: dict[str, Any]) -> dict[str, Any]:
        """A compact form recorded with the prediction (shown beside feedback and in the console)."""

    def explain_global(self) -> dict[str, Any]:
        raise UnsupportedOperation(f"explainer {self.name!r} gives no global explanation")


def top_attributions(feature_names: list[str], values: list[float], k: int = 5) -> list[dict[str, Any]]:
    order = np.argsort(-np.abs(np.asarray(values)))[:k]
    return [{"feature": feature_names[i], "value": float(values[i])} for i in order]
