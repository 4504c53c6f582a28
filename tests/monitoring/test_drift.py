"""Input drift (PSI / KS per feature) and explanation drift as pure functions, on synthetic streams.

Figures this file fixes (with the server's defaults: significance 0.01, window 500 rows, a 100-row
reference as the example model's background):
- false alarms: no undrifted window of 100 (breast_cancer resampled; synthetic with a categorical
  feature) flags any feature; the bound asserted is the issue's <= 2 %;
- detection: a 1 standard-deviation shift of one feature is flagged before one window length
  (500 rows, 5 monitor steps of 100 rows) has passed since the onset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from explainops_server.explainers.registry import build_explainer
from explainops_server.monitoring.drift import (
    DEFAULT_SIGNIFICANCE,
    build_reference,
    input_drift,
    is_categorical,
    psi,
)
from explainops_server.monitoring.explanation_drift import (
    attribution_share,
    attribution_vector,
    explanation_drift,
)

WINDOW = 500
REFERENCE_ROWS = 100
MAX_FALSE_ALARM_RATE = 0.02


def breast_cancer_stream(seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.data))
    return data.data[order[:REFERENCE_ROWS]], data.data[order[REFERENCE_ROWS:]], list(data.feature_names)


def synthetic(rng: np.random.Generator, rows: int, shift: float = 0.0) -> np.ndarray:
    """Two correlated normals, two independent ones (the first shifted by `shift` SD), a 4-level category."""
    cov = [[1, 0.8, 0, 0], [0.8, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    numeric = rng.multivariate_normal(np.zeros(4), cov, rows)
    numeric[:, 2] += shift
    category = rng.choice(4, rows, p=[0.4, 0.3, 0.2, 0.1])
    return np.column_stack([numeric, category])


SYNTHETIC_NAMES = ["a", "b", "c", "d", "category"]


def test_psi_is_zero_for_equal_histograms_and_grows_with_the_shift() -> None:
    counts = np.array([40, 30, 20, 10])
    assert psi(counts, counts) == pytest.approx(0.0, abs=1e-12)
    assert psi(counts, counts * 3) == pytest.approx(0.0, abs=1e-3)  # only the smoothing differs
    small, large = psi(counts, np.array([35, 30, 20, 15])), psi(counts, np.array([10, 20, 30, 40]))
    assert 0 < small < 0.1 < large


def test_numeric_features_use_ks_and_categorical_ones_psi() -> None:
    rng = np.random.default_rng(0)
    profile = build_reference(synthetic(rng, REFERENCE_ROWS), SYNTHETIC_NAMES)
    assert [f.kind for f in profile.features] == ["numeric"] * 4 + ["categorical"]
    assert is_categorical(np.array([0.0, 1.0, 1.0, 2.0])) and not is_categorical(np.array([0.5, 1.0]))
    result = input_drift(profile, synthetic(rng, WINDOW))
    assert [f.statistic for f in result.features] == ["ks"] * 4 + ["psi"]
    # A category the reference never showed is drift of that feature, and only of that one.
    window = synthetic(rng, WINDOW)
    window[:200, 4] = 7
    shifted = input_drift(profile, window)
    assert shifted.drifted_features == ["category"] and shifted.share == pytest.approx(1 / 5)


def test_bad_shapes_are_refused_with_a_clear_error() -> None:
    profile = build_reference(np.ones((5, 2)) * [[1], [2], [3], [4], [5]], ["x", "y"])
    with pytest.raises(ValueError, match="2 features"):
        input_drift(profile, np.ones((10, 3)))
    with pytest.raises(ValueError, match="no rows"):
        input_drift(profile, np.ones((0, 2)))
    with pytest.raises(ValueError, match="two rows"):
        build_reference(np.ones((1, 2)), ["x", "y"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_false_alarms_on_undrifted_breast_cancer_windows(seed: int) -> None:
    reference, pool, names = breast_cancer_stream(seed)
    profile = build_reference(reference, names)
    rng = np.random.default_rng(100 + seed)
    windows = 100
    fired = sum(input_drift(profile, pool[rng.integers(0, len(pool), WINDOW)]).share > 0 for _ in range(windows))
    assert fired / windows <= MAX_FALSE_ALARM_RATE, f"{fired} of {windows} undrifted windows fired"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_false_alarms_on_undrifted_synthetic_windows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    profile = build_reference(synthetic(rng, REFERENCE_ROWS), SYNTHETIC_NAMES)
    windows = 100
    fired = sum(input_drift(profile, synthetic(rng, WINDOW)).share > 0 for _ in range(windows))
    assert fired / windows <= MAX_FALSE_ALARM_RATE, f"{fired} of {windows} undrifted windows fired"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_one_sd_shift_is_detected_within_one_window_of_its_onset(seed: int) -> None:
    """The monitor recomputes on the newest 500 rows; here every 100 rows. Undrifted for 10 windows, then drift."""
    rng = np.random.default_rng(seed)
    profile = build_reference(synthetic(rng, REFERENCE_ROWS), SYNTHETIC_NAMES)
    onset = 10 * WINDOW
    stream = np.vstack([synthetic(rng, onset), synthetic(rng, 2 * WINDOW, shift=1.0)])
    step = WINDOW // 5
    first_fire = None
    for end in range(WINDOW, len(stream) + 1, step):
        if input_drift(profile, stream[end - WINDOW : end]).share > 0:
            first_fire = end
            break
    assert first_fire is not None and first_fire > onset, "fired before the drift began or never"
    assert first_fire - onset <= WINDOW, f"detected {first_fire - onset} rows after the onset"
    drifted = input_drift(profile, stream[first_fire - WINDOW : first_fire])
    assert "c" in drifted.drifted_features


def test_default_significance_bounds_the_per_window_false_alarm_rate() -> None:
    assert DEFAULT_SIGNIFICANCE <= MAX_FALSE_ALARM_RATE


# ---- explanation drift ------------------------------------------------------------------------------
@dataclass
class InMemoryModel:
    """A classifier on numeric columns, as explainers see a served model (`explainers.base.ExplainableModel`)."""

    feature_names: list[str]
    class_names: list[str]
    estimator: object
    is_regression: bool = False
    categorical_names: dict[int, list[str]] = field(default_factory=dict)

    @property
    def output_names(self) -> list[str]:
        return self.class_names

    @property
    def description(self) -> str:
        return type(self.estimator).__name__

    def predict_outputs(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(x))


def rule(x: np.ndarray) -> np.ndarray:
    """x0 decides while x1 < 1.5; beyond, x2 decides. x3 is never used."""
    return np.where(x[:, 1] < 1.5, x[:, 0] > 0, x[:, 2] > 0).astype(int)


def test_explanation_drift_follows_the_feature_the_model_leans_on_not_every_input_shift() -> None:
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    train = rng.normal(size=(4000, 4))
    train[:, 1] = rng.uniform(-3, 5, 4000)
    names = ["x0", "switch", "x2", "irrelevant"]
    model = InMemoryModel(names, ["no", "yes"], DecisionTreeClassifier(max_depth=6, random_state=0))
    model.estimator.fit(train, rule(train))

    def undrifted(rows: int) -> np.ndarray:
        return rng.normal(size=(rows, 4))

    reference = undrifted(REFERENCE_ROWS)
    explainer = build_explainer("tree_shap", model, reference, {})

    def shares_of(rows: np.ndarray) -> list[np.ndarray]:
        vectors = [attribution_vector(explainer.explain_row(row)) for row in rows]
        assert all(v is not None and v.shape == (4,) for v in vectors)
        return vectors  # type: ignore[return-value]

    reference_share = attribution_share(shares_of(reference[:64]), 4)
    profile = build_reference(reference, names)

    def measure(window: np.ndarray) -> tuple[list[str], float]:
        moved = explanation_drift(reference_share, shares_of(window[:64]), names, reference_rows=64)
        return input_drift(profile, window).drifted_features, moved.value

    same_inputs, same_explanations = measure(undrifted(WINDOW))
    assert same_inputs == [] and same_explanations < 0.1

    onto_x2 = undrifted(WINDOW)
    onto_x2[:, 1] += 3.0  # now x2 decides: predictions lean on another feature
    inputs, moved = measure(onto_x2)
    assert "switch" in inputs and moved > 0.2

    irrelevant = undrifted(WINDOW)
    irrelevant[:, 3] += 3.0  # an input the model never uses
    inputs, moved = measure(irrelevant)
    assert inputs == ["irrelevant"] and moved < 0.1


def test_attribution_share_and_vector_edge_cases() -> None:
    assert attribution_vector({"anchor": ["x > 1"]}) is None
    vector = attribution_vector({"shap_values": [[1.0, -2.0], [-1.0, 2.0]], "predicted_class": 1})
    assert vector is not None and vector.tolist() == [-1.0, 2.0]
    assert attribution_share([np.zeros(3)], 3).tolist() == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="3 values"):
        attribution_share([np.zeros(2)], 3)
