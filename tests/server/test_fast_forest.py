"""The vectorised forest equals scikit-learn's predict_proba exactly."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from explainops_server.models.artifact import load_artifact
from explainops_server.models.fast_forest import FlatForest
from explainops_server.models.tabular import FLAT_FOREST_MAX_ROWS, TabularModel


def test_flat_forest_equals_predict_proba(example_model, small_model):
    rng = np.random.default_rng(0)
    for model in (example_model, small_model):
        estimator = load_artifact(str(model.version_dir)).estimator
        flat = FlatForest.from_estimator(estimator)
        assert flat is not None
        noisy = model.holdout + rng.normal(0, model.holdout.std(axis=0), model.holdout.shape)
        for rows in (model.holdout, noisy, model.holdout[:1]):
            np.testing.assert_array_equal(flat.predict_proba(rows), estimator.predict_proba(rows))


def test_served_model_routes_large_batches_to_sklearn(small_model):
    model = TabularModel("m", str(small_model.version_dir))
    model.load()
    big = np.repeat(small_model.holdout, FLAT_FOREST_MAX_ROWS // len(small_model.holdout) + 1, axis=0)
    assert len(big) > FLAT_FOREST_MAX_ROWS
    np.testing.assert_array_equal(model.predict_proba(big), model.estimator.predict_proba(big))


def test_non_tree_estimators_are_not_flattened(small_model):
    estimator = LogisticRegression(max_iter=200).fit(small_model.holdout, small_model.holdout_labels)
    assert FlatForest.from_estimator(estimator) is None
