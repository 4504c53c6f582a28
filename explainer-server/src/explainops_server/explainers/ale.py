"""First-order ALE for numerical features, written from Apley & Zhu, "Visualizing the effects of
predictor variables in black box supervised learning models" (JRSS-B, 2020), section 3 and eq. (15).

For feature j the range is cut at quantiles z_0 < ... < z_K so that each interval holds about
`min_bin_points` rows. The local effect of interval k is the mean, over the rows that fall in it, of
f(z_k, x_\\j) - f(z_{k-1}, x_\\j); the uncentred ALE at z_k is the sum of the effects up to k. The curve
is centred so that its mean over the data is zero, averaging each interval's two end values weighted
by the rows in it; `ale0` is the amount subtracted, `constant_value` the mean prediction.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from explainops_server.explainers.kinds import AleKind

QUANTILE_METHOD = "linear"

def interval_counts(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per interval (z_{k-1}, z_k], the lowest edge counted in the first interval."""
    k = np.clip(np.searchsorted(edges, column, side="left"), 1, max(1, len(edges) - 1))
    return np.bincount(k - 1, minlength=max(1, len(edges) - 1))


def grid(column: np.ndarray, min_bin_points: int) -> np.ndarray:
    """Interval edges at data quantiles: the most intervals that each hold at least `min_bin_points` rows."""
    for bins in range(max(1, len(column) // min_bin_points), 0, -1):
        edges = np.unique(np.quantile(column, np.linspace(0.0, 1.0, bins + 1), method=QUANTILE_METHOD))
        if len(edges) < 2 or interval_counts(column, edges).min() >= min_bin_points:
            return edges
    return edges


def ale_curve(
    predict_proba, data: np.ndarray, j: int, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(centred ALE at each edge [edge, class], ale0 [class]) of feature j."""
    n_classes = predict_proba(data[:1]).shape[1]
    if len(edges) < 2:
        return np.zeros((len(edges), n_classes)), np.zeros(n_classes)
    column = data[:, j]
    # interval k (1..K) holds z_{k-1} < x <= z_k; the lowest edge belongs to interval 1
    k = np.clip(np.searchsorted(edges, column, side="left"), 1, len(edges) - 1)
    lower, upper = data.copy(), data.copy()
    lower[:, j], upper[:, j] = edges[k - 1], edges[k]
    proba = predict_proba(np.vstack([lower, upper]))
    diff = proba[len(data) :] - proba[: len(data)]
    intervals = len(edges) - 1
    counts = np.bincount(k - 1, minlength=intervals).astype(np.float64)
    sums = np.zeros((intervals, n_classes))
    np.add.at(sums, k - 1, diff)
    effects = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
    uncentred = np.vstack([np.zeros((1, n_classes)), np.cumsum(effects, axis=0)])
    ale0 = (((uncentred[:-1] + uncentred[1:]) / 2) * counts[:, None]).sum(axis=0) / counts.sum()
    return uncentred - ale0, ale0


class AleExplainer(AleKind):
    backend: ClassVar[str] = "explainops"

    def curves(self, background: np.ndarray):
        grids, values, offsets = [], [], []
        for j in self.numeric_features:
            edges = grid(background[:, j], self.config.min_bin_points)
            curve, ale0 = ale_curve(self.model.predict_outputs, background, j, edges)
            grids.append(edges)
            values.append(curve)
            offsets.append(ale0)
        constant = self.model.predict_outputs(background).mean(axis=0)
        return grids, values, offsets, constant
