"""The explainer contract: what every backend's explainers return, on the same models.

Run with the default backend in .venv and with EXPLAINOPS_TEST_BACKEND=alibi in .venv-alibi
(`make test-alibi`): the response shape, additivity, anchor precision and the ALE layout must hold for both.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter

from explainops_server.errors import ConfigurationError, UnsupportedOperation
from explainops_server.explainers.params import EXPLAINER_PARAMS
from explainops_server.explainers.registry import BACKENDS, build_explainer
from explainops_server.explainers.schema import AleExplanation, LocalExplanation

from .conftest import Fitted

LOCAL = TypeAdapter(LocalExplanation)


def test_every_backend_offers_every_explainer_with_the_same_parameters(backend):
    assert set(BACKENDS[backend]) == set(EXPLAINER_PARAMS)
    for name, cls in BACKENDS[backend].items():
        assert cls.backend == backend and cls.params_model is EXPLAINER_PARAMS[name]


@pytest.mark.parametrize("explainer", ["tree_shap", "kernel_shap"])
def test_shap_values_are_per_class_and_add_up_to_the_prediction(backend, small_breast_cancer: Fitted, explainer):
    fitted = small_breast_cancer
    exp = build_explainer(explainer, fitted.model, fitted.background, {}, backend=backend)
    rows = fitted.rows[:3]
    proba = fitted.model.predict_proba(rows)
    for i, row in enumerate(rows):
        doc = exp.explain_row(row)
        LOCAL.validate_python(doc)
        assert doc["type"] == explainer and doc["feature_names"] == fitted.model.feature_names
        assert len(doc["shap_values"]) == 2 and all(len(v) == 30 for v in doc["shap_values"])
        assert doc["predicted_class"] == int(np.argmax(proba[i]))
        for cls in range(2):
            total = doc["expected_value"][cls] + sum(doc["shap_values"][cls])
            assert total == pytest.approx(proba[i, cls], abs=1e-6)
        top = doc["top_features"]
        predicted = doc["shap_values"][doc["predicted_class"]]
        assert abs(top[0]["value"]) == pytest.approx(max(abs(v) for v in predicted))
        assert exp.summarise(doc) == {"type": explainer, "top_features": top}


def test_kernel_shap_with_a_logit_link_adds_up_in_log_odds(backend, small_breast_cancer: Fitted):
    fitted = small_breast_cancer
    exp = build_explainer("kernel_shap", fitted.model, fitted.background, {"link": "logit"}, backend=backend)
    row = fitted.rows[5]
    p = np.clip(fitted.model.predict_proba(row.reshape(1, -1))[0], 1e-12, 1 - 1e-12)
    doc = exp.explain_row(row)
    for cls in range(2):
        total = doc["expected_value"][cls] + sum(doc["shap_values"][cls])
        assert total == pytest.approx(np.log(p[cls] / (1 - p[cls])), abs=1e-6)


def test_three_classes_give_three_rows_of_attributions(backend, iris: Fitted):
    exp = build_explainer("tree_shap", iris.model, iris.background, {}, backend=backend)
    doc = exp.explain_row(iris.rows[0])
    assert len(doc["shap_values"]) == 3 and len(doc["expected_value"]) == 3
    assert all(len(v) == 4 for v in doc["shap_values"])


def test_interventional_tree_shap_uses_the_background(backend, small_breast_cancer: Fitted):
    fitted = small_breast_cancer
    params = {"feature_perturbation": "interventional", "background_size": 50}
    exp = build_explainer("tree_shap", fitted.model, fitted.background, params, backend=backend)
    row = fitted.rows[0]
    doc = exp.explain_row(row)
    expected = fitted.model.predict_proba(fitted.background[:50]).mean(axis=0)
    assert doc["expected_value"] == pytest.approx(expected.tolist(), abs=1e-9)
    p = fitted.model.predict_proba(row.reshape(1, -1))[0]
    assert doc["expected_value"][1] + sum(doc["shap_values"][1]) == pytest.approx(p[1], abs=1e-6)


def _holds(anchor_rule: list[str], names: list[str], rows: np.ndarray) -> np.ndarray:
    """Evaluate the anchor's predicates (as printed) on rows: an independent check of what it says."""
    mask = np.ones(len(rows), dtype=bool)
    for predicate in anchor_rule:
        name = next(n for n in sorted(names, key=len, reverse=True) if f" {n} " in f" {predicate} ")
        column = rows[:, names.index(name)]
        left, _, right = predicate.partition(name)
        if left.strip():
            mask &= column > float(left.strip().split()[0])
        op, value = right.split()
        mask &= column <= float(value) if op == "<=" else column > float(value)
    return mask


def test_anchor_meets_its_precision_on_data_it_covers(backend, breast_cancer: Fitted):
    fitted = breast_cancer
    exp = build_explainer("anchor_tabular", fitted.model, fitted.background, {}, backend=backend)
    names = fitted.model.feature_names
    data = np.vstack([fitted.background, fitted.rows])
    predicted = fitted.model.predict_class(data)
    for row in fitted.rows[:4]:
        doc = exp.explain_row(row)
        LOCAL.validate_python(doc)
        assert doc["type"] == "anchor" and doc["anchor"], "an anchor names at least one condition"
        assert doc["precision"] >= 0.95 and 0 < doc["coverage"] <= 1
        covered = _holds(doc["anchor"], names, data)
        assert _holds(doc["anchor"], names, row.reshape(1, -1))[0], "the anchor holds for its own instance"
        # precision measured on the real rows the anchor covers, not on the explainer's own samples
        # (alibi's printed cut points are rounded to 2 decimals: allow a few rows of slack)
        agree = (predicted[covered] == doc["predicted_class"]).mean()
        assert agree >= 0.9, (doc, covered.sum())
        assert exp.summarise(doc) == {k: doc[k] for k in ("type", "anchor", "precision", "coverage")}


def test_anchor_is_reproducible_for_a_seed(backend, small_breast_cancer: Fitted):
    if backend == "alibi":
        pytest.skip("alibi seeds numpy's global generator once, when an explainer is built")
    fitted = small_breast_cancer
    first = build_explainer("anchor_tabular", fitted.model, fitted.background, {"seed": 3}, backend=backend)
    second = build_explainer("anchor_tabular", fitted.model, fitted.background, {"seed": 3}, backend=backend)
    assert first.explain_row(fitted.rows[1]) == second.explain_row(fitted.rows[1])


def test_ale_curves_cover_every_feature_and_are_centred(backend, small_breast_cancer: Fitted):
    fitted = small_breast_cancer
    exp = build_explainer("ale", fitted.model, fitted.background, {}, backend=backend)
    doc = exp.explain_global()
    AleExplanation.model_validate(doc)
    assert [f["feature"] for f in doc["features"]] == fitted.model.feature_names
    assert doc["target_names"] == fitted.model.class_names
    mean = fitted.model.predict_proba(fitted.background).mean(axis=0)
    assert doc["constant_value"] == pytest.approx(mean.tolist(), abs=1e-9)
    for feature in doc["features"]:
        grid = np.asarray(feature["feature_values"])
        ale = np.asarray(feature["ale_values"])
        assert ale.shape == (len(grid), 2) and np.all(np.diff(grid) > 0)
        # the two class probabilities sum to one, so their effects are opposite
        assert ale[:, 0] == pytest.approx(-ale[:, 1], abs=1e-9)
    with pytest.raises(UnsupportedOperation, match="global"):
        exp.explain_row(fitted.rows[0])


def test_ale_of_a_feature_the_model_ignores_is_flat(backend, small_breast_cancer: Fitted):
    fitted = small_breast_cancer
    used = set(np.concatenate([t.tree_.feature for t in fitted.model.estimator.estimators_]).tolist())
    unused = [j for j in range(30) if j not in used]
    assert unused, "the 10-tree, depth-3 forest leaves some features unused"
    doc = build_explainer("ale", fitted.model, fitted.background, {}, backend=backend).explain_global()
    for j in unused:
        assert np.allclose(doc["features"][j]["ale_values"], 0, atol=1e-12)


@pytest.mark.parametrize(
    ("explainer", "params", "message"),
    [
        ("kernel_shap", {"nsamples": "lots"}, "nsamples"),
        ("kernel_shap", {"link": "banana"}, "link"),
        ("kernel_shap", {"nsamples": 5}, "nsamples"),
        ("anchor_tabular", {"threshold": 1.5}, "threshold"),
        ("anchor_tabular", {"disc_perc": [0, 50]}, "disc_perc"),
        ("tree_shap", {"feature_perturbation": "causal"}, "feature_perturbation"),
        ("ale", {"min_bin_points": 2.5}, "min_bin_points"),
        ("tree_shap", {"nsamples": 5}, "does not take parameter"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_fitted(backend, iris: Fitted, explainer, params, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        build_explainer(explainer, iris.model, iris.background, params, backend=backend)
    assert "\n" not in caught.value.detail
