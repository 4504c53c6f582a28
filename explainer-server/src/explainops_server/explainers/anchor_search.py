"""Anchors, written from Ribeiro, Singh & Guestrin, "Anchors: High-Precision Model-Agnostic
Explanations" (AAAI 2018), sections 3.1-3.2 and Algorithm 2.

An anchor A is a set of predicates on features cut at percentiles of the background, each one true for x:
"feature <= cut" for a cut at or above x's interval, "feature > cut" for one below it (so that an anchor
may name a feature's interval, or everything on one side of a cut, as in the paper's tabular anchors). Its precision
is the rate at which the model keeps x's prediction on samples z ~ D(z | A), its coverage the share of
the data on which A holds. D(z | A) is the background data conditioned on A: rows drawn from those on
which A holds, so the features A leaves free keep their correlation with the ones it fixes. The search is a beam search: each round extends every anchor of the beam by
one predicate, keeps only candidates whose coverage beats the best anchor found so far, and picks the
`beam_size` most precise ones with KL-LUCB (Kaufmann & Kalyanakrishnan 2013), a best-arm bandit whose
confidence bounds come from the Bernoulli KL divergence. A chosen candidate is sampled until it is
known, with confidence 1 - delta, to lie above or below the threshold (within tau).

Every bandit round draws the samples of all the arms it pulls and evaluates them in one model call:
the cost of an explanation is a few dozen vectorised predict calls rather than thousands of small ones.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

Anchor = tuple[int, ...]
KL_ALPHA, KL_K1 = 1.1, 1.25  # exploration rate beta(t) = log(k1 * arms * t^alpha / delta)
BISECTION_STEPS = 20
MAX_BANDIT_ROUNDS = 200
MAX_VERIFY_ROUNDS = 20
PROBABILITY_EPS = 1e-7


def kl_bernoulli(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p = np.clip(p, PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    q = np.clip(q, PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def kl_bounds(mean: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper): the q furthest from `mean` on each side with KL(mean, q) <= level."""
    lo_a, hi_a = np.zeros_like(mean), mean.copy()  # lower bound lies in [0, mean]
    lo_b, hi_b = mean.copy(), np.ones_like(mean)  # upper bound lies in [mean, 1]
    for _ in range(BISECTION_STEPS):
        mid_a, mid_b = (lo_a + hi_a) / 2, (lo_b + hi_b) / 2
        out_a, out_b = kl_bernoulli(mean, mid_a) > level, kl_bernoulli(mean, mid_b) > level
        lo_a, hi_a = np.where(out_a, mid_a, lo_a), np.where(out_a, hi_a, mid_a)
        lo_b, hi_b = np.where(out_b, lo_b, mid_b), np.where(out_b, mid_b, hi_b)
    return lo_a, hi_b


@dataclass
class Discretiser:
    """Cuts every numeric feature at percentiles of the background; a categorical feature (its values are
    category codes) is `None`: its one predicate is equality with x's category."""

    cuts: list[np.ndarray | None]

    @classmethod
    def fit(
        cls, background: np.ndarray, percentiles: tuple[int, ...], categorical: Collection[int] = ()
    ) -> Discretiser:
        return cls(
            [
                None if j in categorical else np.unique(np.percentile(background[:, j], percentiles))
                for j in range(background.shape[1])
            ]
        )

    def predicates(self, x: np.ndarray) -> list[Predicate]:
        """Every predicate that holds for x: (feature, is_upper_bound or None for equality, value)."""
        out: list[Predicate] = []
        for j, cuts in enumerate(self.cuts):
            if cuts is None:
                out.append((j, None, float(x[j])))
            else:
                out.extend((j, bool(x[j] <= c), float(c)) for c in cuts)
        return out


# (feature, True: feature <= value / False: feature > value / None: feature == value, value)
Predicate = tuple[int, bool | None, float]


def holds(predicates: list[Predicate], rows: np.ndarray) -> np.ndarray:
    """[row, predicate]: whether each predicate holds on each row."""
    out = np.empty((len(rows), len(predicates)), dtype=bool)
    for i, (j, upper, value) in enumerate(predicates):
        if upper is None:
            out[:, i] = rows[:, j] == value
        else:
            out[:, i] = rows[:, j] <= value if upper else rows[:, j] > value
    return out


def describe(
    predicates: list[Predicate], names: list[str], categories: Mapping[int, list[str]] | None = None
) -> list[str]:
    """The anchor as text, one condition per feature: 'a < f <= b', 'f <= b', 'f > a' or 'f = category'."""
    bounds: dict[int, list[float | None]] = {}
    equal: dict[int, str] = {}
    for j, upper, value in predicates:
        if upper is None:
            known = (categories or {}).get(j)
            equal[j] = known[int(value)] if known is not None else f"{value:.4g}"
            continue
        low, high = bounds.setdefault(j, [None, None])
        if upper:
            bounds[j][1] = value if high is None else min(high, value)
        else:
            bounds[j][0] = value if low is None else max(low, value)
    text = []
    for j in sorted({*bounds, *equal}):
        if j in equal:
            text.append(f"{names[j]} = {equal[j]}")
            continue
        low, high = bounds[j]
        if low is not None and high is not None:
            text.append(f"{low:.4g} < {names[j]} <= {high:.4g}")
        elif high is not None:
            text.append(f"{names[j]} <= {high:.4g}")
        else:
            text.append(f"{names[j]} > {low:.4g}")
    return text


@dataclass
class Arms:
    """Sample counts and hits (model kept x's class) of every anchor pulled so far."""

    pulls: dict[Anchor, int] = field(default_factory=dict)
    hits: dict[Anchor, int] = field(default_factory=dict)

    def mean(self, anchors: list[Anchor]) -> np.ndarray:
        return np.array([self.hits[a] / self.pulls[a] for a in anchors])

    def counts(self, anchors: list[Anchor]) -> np.ndarray:
        return np.array([self.pulls[a] for a in anchors], dtype=np.float64)


@dataclass
class AnchorResult:
    anchor: Anchor
    precision: float
    coverage: float
    meets_threshold: bool


class AnchorSearch:
    """The search for one instance `x` of a classifier `predict` (rows -> class index)."""

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        background: np.ndarray,
        discretiser: Discretiser,
        x: np.ndarray,
        *,
        threshold: float,
        delta: float,
        tau: float,
        batch_size: int,
        beam_size: int,
        coverage_samples: int,
        max_anchor_size: int | None,
        rng: np.random.Generator,
    ) -> None:
        self.predict, self.background, self.rng = predict, background, rng
        self.threshold, self.delta, self.tau = threshold, delta, tau
        self.batch_size, self.beam_size = batch_size, beam_size
        self.max_size = min(max_anchor_size or x.size, x.size)  # at most two bounds per feature, in practice one
        self.target = int(predict(x.reshape(1, -1))[0])
        self.predicates = discretiser.predicates(x)
        # two bounds of one kind on one feature are redundant: the tighter implies the other
        self._kind = [(j, upper) for j, upper, _ in self.predicates]
        self.background_hits = holds(self.predicates, background)  # [row, predicate]
        self._support: dict[Anchor, np.ndarray] = {}
        drawn = rng.integers(0, len(background), size=coverage_samples)
        self.coverage_hits = self.background_hits[drawn]  # [coverage_samples, feature]
        self.arms = Arms()
        self.model_calls = 0

    # ---- sampling -------------------------------------------------------------------------------
    def coverage(self, anchor: Anchor) -> float:
        return float(self.coverage_hits[:, list(anchor)].all(axis=1).mean())

    def support(self, anchor: Anchor) -> np.ndarray:
        """Indices of the background rows on which the anchor holds."""
        if anchor not in self._support:
            self._support[anchor] = np.flatnonzero(self.background_hits[:, list(anchor)].all(axis=1))
        return self._support[anchor]

    def _sample(self, anchor: Anchor, n: int) -> np.ndarray:
        rows = self.support(anchor)
        return self.background[rows[self.rng.integers(0, rows.size, size=n)]]

    def pull(self, anchors: list[Anchor], n: int) -> None:
        """n samples of each anchor, evaluated in one model call."""
        if not anchors:
            return
        kept = self.predict(np.vstack([self._sample(a, n) for a in anchors])) == self.target
        self.model_calls += 1
        for i, a in enumerate(anchors):
            self.arms.pulls[a] = self.arms.pulls.get(a, 0) + n
            self.arms.hits[a] = self.arms.hits.get(a, 0) + int(kept[i * n : (i + 1) * n].sum())

    def _bounds(self, anchors: list[Anchor], t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean = self.arms.mean(anchors)
        beta = np.log(KL_K1 * len(anchors) * t**KL_ALPHA / self.delta)
        lower, upper = kl_bounds(mean, beta / self.arms.counts(anchors))
        return mean, lower, upper

    # ---- the bandit -----------------------------------------------------------------------------
    def best_candidates(self, candidates: list[Anchor]) -> list[Anchor]:
        """KL-LUCB: the `beam_size` candidates of highest precision, to within tau."""
        self.pull([a for a in candidates if a not in self.arms.pulls], self.batch_size)
        if len(candidates) <= self.beam_size:
            return candidates
        for t in range(1, MAX_BANDIT_ROUNDS + 1):
            mean, lower, upper = self._bounds(candidates, t)
            order = np.argsort(-mean, kind="stable")
            top, rest = order[: self.beam_size], order[self.beam_size :]
            weakest = top[np.argmin(lower[top])]
            challenger = rest[np.argmax(upper[rest])]
            if upper[challenger] - lower[weakest] <= self.tau:
                break
            self.pull([candidates[weakest], candidates[challenger]], self.batch_size)
        mean = self.arms.mean(candidates)
        return [candidates[i] for i in np.argsort(-mean, kind="stable")[: self.beam_size]]

    def meets_threshold(self, anchor: Anchor) -> bool:
        """Sample until precision is known to be above or below the threshold (tolerance tau)."""
        for t in range(1, MAX_VERIFY_ROUNDS + 1):
            mean, lower, upper = (v[0] for v in self._bounds([anchor], t))
            undecided = (mean >= self.threshold and lower < self.threshold - self.tau) or (
                mean < self.threshold and upper >= self.threshold + self.tau
            )
            if not undecided:
                break
            self.pull([anchor], self.batch_size)
        mean, lower, _ = (v[0] for v in self._bounds([anchor], MAX_VERIFY_ROUNDS))
        return bool(mean >= self.threshold and lower > self.threshold - self.tau)

    # ---- beam search (Algorithm 2) --------------------------------------------------------------
    def run(self) -> AnchorResult:
        best: AnchorResult | None = None
        beam: list[Anchor] = [()]
        for _ in range(self.max_size):
            floor = best.coverage if best is not None else -1.0
            extended = {
                tuple(sorted((*a, p)))
                for a in beam
                for p in range(len(self.predicates))
                if all(self._kind[q] != self._kind[p] for q in a)
            }
            # an anchor with no background row to sample from has no estimable precision
            candidates = [c for c in sorted(extended) if self.coverage(c) > floor and self.support(c).size]
            if not candidates:
                break
            beam = self.best_candidates(candidates)
            for anchor in beam:
                coverage = self.coverage(anchor)
                if coverage > floor and self.meets_threshold(anchor):
                    best = AnchorResult(anchor, float(self.arms.mean([anchor])[0]), coverage, True)
                    floor = coverage
        if best is not None:
            return best
        # no anchor reached the threshold: the most precise one seen, flagged as such
        seen = list(self.arms.pulls) or [()]
        self.pull([a for a in seen if a not in self.arms.pulls], self.batch_size)
        top = seen[int(np.argmax(self.arms.mean(seen)))]
        return AnchorResult(top, float(self.arms.mean([top])[0]), self.coverage(top), False)
