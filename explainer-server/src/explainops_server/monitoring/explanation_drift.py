"""Explanation drift: has the model started to lean on other features than on the reference sample?

For a set of explanations, the *attribution share* of a feature is its mean |attribution| divided
by the sum over features. Explanation drift is the total variation distance between the shares of
recent explanations and those of the reference sample: half the sum of absolute differences, in
[0, 1] - the share of attribution mass that moved from some features to others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.2


@dataclass(frozen=True)
class ExplanationDrift:
    value: float
    drifted: bool
    threshold: float
    reference_share: list[float]
    recent_share: list[float]
    feature_names: list[str]
    reference_rows: int
    recent_rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "drifted": self.drifted,
            "threshold": self.threshold,
            "reference_rows": self.reference_rows,
            "recent_rows": self.recent_rows,
            "features": [
                {"feature": name, "reference_share": ref, "recent_share": rec}
                for name, ref, rec in zip(self.feature_names, self.reference_share, self.recent_share, strict=True)
            ],
        }


def attribution_vector(explanation: dict[str, Any]) -> np.ndarray | None:
    """Per-feature attributions for the predicted class of one SHAP-style explanation, else None."""
    values = explanation.get("shap_values") if isinstance(explanation, dict) else None
    if not isinstance(values, list) or not values:
        return None
    per_class = np.asarray(values, dtype=np.float64)
    if per_class.ndim == 1:
        return per_class
    per_class = per_class.reshape(per_class.shape[0], -1)
    predicted = explanation.get("predicted_class")
    index = predicted if isinstance(predicted, int) and 0 <= predicted < len(per_class) else 0
    return per_class[index]


def attribution_share(attributions: Iterable[np.ndarray], n_features: int) -> np.ndarray:
    """Mean |attribution| per feature, normalised to sum to 1 (uniform when all are zero)."""
    rows = [np.abs(np.asarray(a, dtype=np.float64)) for a in attributions]
    if not rows:
        raise ValueError("no attributions")
    if any(r.shape != (n_features,) for r in rows):
        raise ValueError(f"every attribution vector must have {n_features} values")
    mean = np.mean(rows, axis=0)
    total = mean.sum()
    return mean / total if total > 0 else np.full(n_features, 1.0 / n_features)


def explanation_drift(
    reference_share: np.ndarray,
    recent: list[np.ndarray],
    feature_names: list[str],
    *,
    reference_rows: int,
    threshold: float = DEFAULT_THRESHOLD,
) -> ExplanationDrift:
    recent_share = attribution_share(recent, len(feature_names))
    value = float(0.5 * np.abs(recent_share - reference_share).sum())
    return ExplanationDrift(
        value=value,
        drifted=value > threshold,
        threshold=threshold,
        reference_share=[float(v) for v in reference_share],
        recent_share=[float(v) for v in recent_share],
        feature_names=list(feature_names),
        reference_rows=reference_rows,
        recent_rows=len(recent),
    )
