"""KernelShap written from Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions" (2017).

The Shapley values of f at x are the solution of a weighted linear regression over coalitions z of
features, with the Shapley kernel weight (M-1) / (C(M,|z|) |z| (M-|z|)), under the constraints
phi_0 = E[f(background)] and sum(phi) = f(x) - phi_0. A coalition's value is the mean model output
over the background with the coalition's features taken from x.

Coalitions are chosen by size, from the outer sizes (1 and M-1, which carry the most weight) inwards:
a size is enumerated completely while the budget allows, and the remaining weight is spread over
randomly drawn coalitions and their complements. With 2^M - 2 <= nsamples every coalition is enumerated
and the result is the exact Shapley value. Features that equal x in every background row cannot change
the output and get 0 without taking part in the regression.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any, ClassVar

import numpy as np

from explainops_server.explainers.kinds import KernelShapKind

MAX_ROWS_PER_CALL = 50_000
LOGIT_EPS = 1e-12


def _link(name: str) -> Any:
    if name == "logit":  # clipped, so that a probability of exactly 0 or 1 stays finite
        return lambda p: np.log(np.clip(p, LOGIT_EPS, 1 - LOGIT_EPS)) - np.log(np.clip(1 - p, LOGIT_EPS, 1))
    return lambda p: p


def summarise_background(
    background: np.ndarray, rows: int, seed: int, *, categorical: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """`rows` k-means centroids weighted by their cluster sizes, or the rows themselves if few enough.
    With categorical columns (category codes, which a centroid would average into no category) a
    seeded sample of `rows` background rows, equally weighted."""
    if rows >= len(background):
        return background, np.full(len(background), 1.0 / len(background))
    if categorical:
        chosen = np.random.default_rng(seed).choice(len(background), size=rows, replace=False)
        return background[np.sort(chosen)], np.full(rows, 1.0 / rows)
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=rows, n_init=10, random_state=seed).fit(background)
    counts = np.bincount(km.labels_, minlength=rows).astype(np.float64)
    return np.asarray(km.cluster_centers_, dtype=np.float64), counts / counts.sum()


def coalitions(m: int, nsamples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Coalition masks [n, m] and their regression weights [n], empty and full coalitions excluded."""
    if m < 2:
        return np.zeros((0, m), dtype=bool), np.zeros(0)
    sizes = list(range(1, m // 2 + 1))  # each size stands for itself and its complement m - s
    group_weight = {s: (m - 1) / (s * (m - s)) * (1 if 2 * s == m else 2) for s in sizes}
    masks: list[np.ndarray] = []
    weights: list[float] = []
    budget = nsamples
    remaining = list(sizes)
    for s in sizes:
        count = math.comb(m, s) * (1 if 2 * s == m else 2)
        share = group_weight[s] / sum(group_weight[r] for r in remaining)
        if budget * share + 1e-9 < count:
            break
        per_subset = (m - 1) / (math.comb(m, s) * s * (m - s))
        for chosen in combinations(range(m), s):
            mask = np.zeros(m, dtype=bool)
            mask[list(chosen)] = True
            masks.append(mask)
            weights.append(per_subset)
            if 2 * s != m:
                masks.append(~mask)
                weights.append(per_subset)
        budget -= count
        remaining.remove(s)
    if remaining and budget >= 2:
        left_weight = sum(group_weight[r] for r in remaining)
        probs = np.array([group_weight[r] for r in remaining]) / left_weight
        drawn: dict[bytes, list[Any]] = {}
        pairs = budget // 2
        for s in rng.choice(remaining, size=pairs, p=probs):
            mask = np.zeros(m, dtype=bool)
            mask[rng.choice(m, size=int(s), replace=False)] = True
            for part in (mask, ~mask):
                key = part.tobytes()
                entry = drawn.setdefault(key, [part, 0])
                entry[1] += 1
        unit = left_weight / (2 * pairs)  # the kernel mass of the sizes not enumerated, split per draw
        for part, hits in drawn.values():
            masks.append(part)
            weights.append(unit * hits)
    if not masks:
        return np.zeros((0, m), dtype=bool), np.zeros(0)
    return np.array(masks), np.array(weights)


def shapley_regression(
    masks: np.ndarray, weights: np.ndarray, y: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """phi [m, k] minimising sum w (y - masks @ phi)^2 subject to sum(phi) = total [k]."""
    m = masks.shape[1]
    if m == 1:
        return total.reshape(1, -1)
    z = masks.astype(np.float64)
    x = z[:, :-1] - z[:, -1:]
    target = y - z[:, -1:] * total.reshape(1, -1)
    sw = np.sqrt(weights).reshape(-1, 1)
    head, *_ = np.linalg.lstsq(x * sw, target * sw, rcond=None)
    return np.vstack([head, total.reshape(1, -1) - head.sum(axis=0, keepdims=True)])


class KernelShapExplainer(KernelShapKind):
    backend: ClassVar[str] = "explainops"

    def fit(self, background: np.ndarray) -> None:
        config = self.config
        self._data, self._weights = summarise_background(
            background,
            min(config.background_size, len(background)),
            config.seed,
            categorical=bool(self.model.categorical_names),
        )
        self._link = _link(config.link)
        self._null = self._weights @ self.model.predict_outputs(self._data)  # E[f] over the background [k]

    def attributions(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        config = self.config
        fx = self.model.predict_outputs(row.reshape(1, -1))[0]
        expected = self._link(self._null)
        total = self._link(fx) - expected
        varying = np.flatnonzero((self._data != row.reshape(1, -1)).any(axis=0))
        phi = np.zeros((len(row), len(fx)))
        if len(varying) == 1:
            phi[varying[0]] = total
        elif len(varying) > 1:
            rng = np.random.default_rng(config.seed)
            masks, weights = coalitions(len(varying), config.nsamples, rng)
            values = self._coalition_values(row, varying, masks)
            phi[varying] = shapley_regression(masks, weights, self._link(values) - expected, total)
        return phi.T, expected

    def _coalition_values(self, row: np.ndarray, varying: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Mean model output over the background for each coalition [n, k]."""
        n_bg = len(self._data)
        per_call = max(1, MAX_ROWS_PER_CALL // n_bg)
        out = []
        for start in range(0, len(masks), per_call):
            chunk = masks[start : start + per_call]
            full = np.zeros((len(chunk), len(row)), dtype=bool)
            full[:, varying] = chunk
            synthetic = np.where(full[:, None, :], row[None, None, :], self._data[None, :, :])
            proba = self.model.predict_outputs(synthetic.reshape(-1, len(row)))
            out.append(np.einsum("cbk,b->ck", proba.reshape(len(chunk), n_bg, -1), self._weights))
        return np.vstack(out)
