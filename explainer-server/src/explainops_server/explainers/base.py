"""The explainer interface every backend implements."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

import numpy as np

from explainops_server.errors import ConfigurationError, UnsupportedOperation


class ExplainableModel(Protocol):
    """What an explainer needs from the served model; it is called in-process."""

    feature_names: list[str]
    class_names: list[str]  # empty for regression
    output_names: list[str]  # the classes, or the regression target's name
    is_regression: bool
    categorical_names: dict[int, list[str]]  # column index -> categories (rows hold their codes)
    estimator: Any
    description: str  # the estimator's structure, e.g. "Pipeline(StandardScaler, LogisticRegression)"

    def predict_outputs(self, x: np.ndarray) -> np.ndarray:
        """(rows, outputs): class probabilities, or one column with the regression value."""
        ...


class Explainer(ABC):
    """Fitted once at load from the artifact background; `explain` runs in a worker thread."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, model: ExplainableModel, background: np.ndarray, params: dict[str, Any]) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ConfigurationError(
                f"explainer {self.name!r} does not take parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.defaults)) or 'none'}"
            )
        self.model = model
        self.params = {**self.defaults, **params}
        self.fit(background)

    @property
    def config_key(self) -> str:
        """Identifies the explainer configuration in cache keys."""
        return json.dumps({"explainer": self.name, **self.params}, sort_keys=True, default=str)

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
