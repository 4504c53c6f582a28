"""Input drift per feature: a recent window of inputs against the served version's reference sample.

- Numeric features: the two-sample Kolmogorov-Smirnov statistic D and its p-value (scipy).
- Categorical features (few distinct integer values in the reference): the population stability
  index over the reference's categories plus one "unseen" bin. PSI is Jeffreys' divergence, so
  PSI * n*m/(n+m) is approximately chi-square with (bins - 1) degrees of freedom; that gives its p-value.
- Numeric features also get a PSI over the reference deciles, for display next to KS.

A feature is *drifted* when its p-value is below `significance / n_features` (Bonferroni), so the
chance that an undrifted window flags any feature at all is at most `significance`. The model's
input drift is the share of drifted features, in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

DEFAULT_SIGNIFICANCE = 0.01
MAX_CATEGORIES = 10
PSI_BINS = 10
# Additive smoothing of bin counts: an empty bin must not make PSI infinite.
PSEUDO_COUNT = 0.5


@dataclass(frozen=True)
class FeatureReference:
    name: str
    kind: str  # "numeric" | "categorical"
    values: np.ndarray  # the sorted reference column
    bins: np.ndarray  # numeric: inner decile edges; categorical: the categories


@dataclass(frozen=True)
class ReferenceProfile:
    """What drift is measured against, computed once when a version is loaded."""

    features: list[FeatureReference]

    @property
    def rows(self) -> int:
        return len(self.features[0].values) if self.features else 0


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    statistic: str  # "ks" | "psi": the one its test uses
    value: float  # D for ks, PSI for psi
    p_value: float
    psi: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "statistic": self.statistic,
            "value": self.value,
            "p_value": self.p_value,
            "psi": self.psi,
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class InputDrift:
    share: float  # drifted features / features
    drifted_features: list[str]
    features: list[FeatureDrift]
    window_rows: int
    reference_rows: int
    significance: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "drifted_features": self.drifted_features,
            "window_rows": self.window_rows,
            "reference_rows": self.reference_rows,
            "significance": self.significance,
            "features": [f.to_dict() for f in self.features],
        }


def is_categorical(column: np.ndarray) -> bool:
    values = np.unique(column)
    return len(values) <= MAX_CATEGORIES and bool(np.all(values == np.round(values)))


def build_reference(reference: np.ndarray, feature_names: list[str]) -> ReferenceProfile:
    """Profile a reference sample (rows x features). Raises ValueError on an unusable sample."""
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[1] != len(feature_names):
        raise ValueError(f"reference must be rows x {len(feature_names)} features, got {reference.shape}")
    if reference.shape[0] < 2:
        raise ValueError("reference needs at least two rows")
    features = []
    for j, name in enumerate(feature_names):
        column = np.sort(reference[:, j])
        if is_categorical(column):
            features.append(FeatureReference(name, "categorical", column, np.unique(column)))
        else:
            edges = np.unique(np.quantile(column, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
            features.append(FeatureReference(name, "numeric", column, edges))
    return ReferenceProfile(features)


def _proportions(counts: np.ndarray) -> np.ndarray:
    smoothed = counts.astype(np.float64) + PSEUDO_COUNT
    return smoothed / smoothed.sum()


def _category_counts(values: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """Counts per category plus a last bin for values the reference never showed."""
    index = np.searchsorted(categories, values)
    index = np.minimum(index, len(categories) - 1)
    known = categories[index] == values
    counts = np.bincount(index[known], minlength=len(categories))
    return np.append(counts, np.count_nonzero(~known))


def psi(reference_counts: np.ndarray, window_counts: np.ndarray) -> float:
    """Population stability index of two histograms over the same bins."""
    p, q = _proportions(reference_counts), _proportions(window_counts)
    return float(np.sum((q - p) * np.log(q / p)))


def _psi_p_value(value: float, bins: int, n: int, m: int) -> float:
    if bins < 2:
        return 1.0
    return float(scipy_stats.chi2.sf(value * n * m / (n + m), bins - 1))


def feature_drift(ref: FeatureReference, window: np.ndarray, threshold: float) -> FeatureDrift:
    n, m = len(window), len(ref.values)
    if ref.kind == "categorical":
        ref_counts = _category_counts(ref.values, ref.bins)
        win_counts = _category_counts(window, ref.bins)
        # The "unseen" bin counts only when the window uses it (the reference never does).
        used = slice(None) if win_counts[-1] else slice(0, -1)
        value = psi(ref_counts[used], win_counts[used])
        p_value = _psi_p_value(value, len(ref_counts[used]), n, m)
        return FeatureDrift(ref.name, ref.kind, "psi", value, p_value, value, p_value < threshold)
    ref_counts = np.bincount(np.searchsorted(ref.bins, ref.values, side="right"), minlength=len(ref.bins) + 1)
    win_counts = np.bincount(np.searchsorted(ref.bins, window, side="right"), minlength=len(ref.bins) + 1)
    result = scipy_stats.ks_2samp(ref.values, window)
    d, p_value = float(result.statistic), float(result.pvalue)
    return FeatureDrift(ref.name, ref.kind, "ks", d, p_value, psi(ref_counts, win_counts), p_value < threshold)


def input_drift(
    profile: ReferenceProfile, window: np.ndarray, significance: float = DEFAULT_SIGNIFICANCE
) -> InputDrift:
    """Drift of a window (rows x features) against the reference profile."""
    window = np.asarray(window, dtype=np.float64)
    if window.ndim != 2 or window.shape[1] != len(profile.features):
        raise ValueError(f"window must be rows x {len(profile.features)} features, got {window.shape}")
    if window.shape[0] == 0:
        raise ValueError("window holds no rows")
    if not 0 < significance < 1:
        raise ValueError(f"significance must be in (0, 1), got {significance}")
    threshold = significance / len(profile.features)
    features = [feature_drift(ref, window[:, j], threshold) for j, ref in enumerate(profile.features)]
    drifted = [f.feature for f in features if f.drifted]
    return InputDrift(
        share=len(drifted) / len(features),
        drifted_features=drifted,
        features=features,
        window_rows=int(window.shape[0]),
        reference_rows=profile.rows,
        significance=significance,
    )
