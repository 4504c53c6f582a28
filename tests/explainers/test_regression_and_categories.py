"""Explainers on a regressor and on a pipeline with a categorical column: SHAP per original column that
adds up to the prediction, ALE on a regressor's value, anchors that name categories, Anchors refusing a
regressor with a 4xx, and a mismatched explainer reported as one line, never a traceback."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainops_server.errors import UnsupportedOperation
from explainops_server.explainers.compat import explainer_problems
from explainops_server.explainers.registry import build_explainer
from explainops_server.models.artifact import write_artifact
from explainops_server.models.features import FeatureSchema
from explainops_server.models.tabular import TabularModel

pytestmark = pytest.mark.skipif(
    os.environ.get("EXPLAINOPS_TEST_BACKEND", "explainops") != "explainops", reason="the project's own backend"
)
COLOURS = ["blue", "green", "red"]


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"size": rng.normal(size=n), "weight": rng.normal(size=n), "colour": rng.choice(COLOURS, n)}
    )


def served(tmp_path, estimator, data: pd.DataFrame, *, regression: bool, categories=None) -> TabularModel:
    schema = FeatureSchema(list(data.columns), categories or {})
    background = schema.encode_rows(data.head(60).values.tolist(), "background")
    write_artifact(
        tmp_path / "v1", estimator=estimator, name="m", version="v1", feature_names=list(data.columns),
        class_names=[] if regression else ["no", "yes"], background=background,
        task="regression" if regression else "classification", categories=categories,
    )  # fmt: skip
    model = TabularModel("m", str(tmp_path / "v1"))
    model.load()
    return model


@pytest.fixture(scope="module")
def regressor(tmp_path_factory) -> TabularModel:
    data = frame(300, 0)[["size", "weight"]]
    target = 3 * data["size"] - data["weight"]
    estimator = RandomForestRegressor(20, max_depth=5, random_state=0).fit(data.values, target)
    return served(tmp_path_factory.mktemp("reg"), estimator, data, regression=True)


@pytest.fixture(scope="module")
def categorical(tmp_path_factory) -> TabularModel:
    data = frame(400, 1)
    target = ((data["colour"] == "red") | (data["size"] > 1.0)).astype(int)
    encode = ColumnTransformer(
        [("num", StandardScaler(), ["size", "weight"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    estimator = make_pipeline(encode, RandomForestClassifier(30, random_state=0)).fit(data, target)
    return served(tmp_path_factory.mktemp("cat"), estimator, data, regression=False, categories={"colour": COLOURS})


@pytest.mark.parametrize("name", ["kernel_shap", "tree_shap"])
def test_shap_on_a_regressor_adds_up_to_the_predicted_value(regressor, name):
    explainer = build_explainer(name, regressor, regressor.loaded.background, {})
    row = np.array([1.2, -0.3])
    out = explainer.explain_row(row)
    predicted = regressor.predict_outputs(row.reshape(1, -1))[0, 0]
    assert out["predicted_value"] == pytest.approx(predicted) and "predicted_class" not in out
    assert len(out["shap_values"]) == 1 and len(out["shap_values"][0]) == 2
    assert out["expected_value"][0] + sum(out["shap_values"][0]) == pytest.approx(predicted, abs=1e-6)
    assert out["top_features"][0]["feature"] == "size"  # the larger coefficient


def test_ale_of_a_regressor_follows_its_value(regressor):
    result = build_explainer("ale", regressor, regressor.loaded.background, {}).explain_global()
    assert result["target_names"] == ["target"]
    size = next(f for f in result["features"] if f["feature"] == "size")
    curve = [v[0] for v in size["ale_values"]]
    assert curve[-1] - curve[0] > 2.0  # value rises by about 3 per unit of size


def test_anchors_refuse_a_regressor_with_a_4xx_that_says_why(regressor):
    explainer = build_explainer("anchor_tabular", regressor, regressor.loaded.background, {})
    with pytest.raises(UnsupportedOperation, match="defined for classifiers only") as refused:
        explainer.explain_row(np.array([0.0, 0.0]))
    assert 400 <= refused.value.status < 500
    (problem,) = explainer_problems("anchor_tabular", regressor)
    assert not problem.fatal  # predict is still served


def test_an_anchor_names_the_category(categorical):
    explainer = build_explainer("anchor_tabular", categorical, categorical.loaded.background, {"seed": 0})
    row = categorical.schema.encode_rows([[0.0, 0.0, "red"]], "instances")[0]
    out = explainer.explain_row(row)
    assert out["predicted_class_name"] == "yes"
    assert "colour = red" in out["anchor"]


def test_kernel_shap_gives_one_value_per_original_column(categorical):
    explainer = build_explainer("kernel_shap", categorical, categorical.loaded.background, {"nsamples": 100})
    row = categorical.schema.encode_rows([{"size": 0.0, "weight": 0.0, "colour": "red"}], "instances")[0]
    out = explainer.explain_row(row)
    assert out["feature_names"] == ["size", "weight", "colour"]
    assert [len(v) for v in out["shap_values"]] == [3, 3]
    assert out["top_features"][0]["feature"] == "colour"


def test_ale_leaves_categorical_columns_out_by_name(categorical):
    result = build_explainer("ale", categorical, categorical.loaded.background, {}).explain_global()
    assert [f["feature"] for f in result["features"]] == ["size", "weight"]
    assert result["skipped_categorical"] == ["colour"]


def test_tree_shap_on_a_linear_pipeline_is_one_named_problem(tmp_path):
    data = frame(200, 2)[["size", "weight"]]
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(data, (data["size"] > 0).astype(int))
    model = served(tmp_path, estimator, data, regression=False)
    problems = [str(p) for p in explainer_problems("tree_shap", model)]
    assert len(problems) == 1
    assert problems[0].startswith(
        "explainer: TreeShap needs a tree ensemble; this model is Pipeline(StandardScaler, LogisticRegression)"
    )
