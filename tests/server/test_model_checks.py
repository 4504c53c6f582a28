"""The model layer of bring-your-own-model: the skops allow-list covers every supported estimator, the
feature schema reads categorical rows, and the estimator is checked against its metadata."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from explainops_server.errors import ArtifactError, InvalidInput
from explainops_server.models.artifact import ModelMetadata, load_artifact, load_estimator, write_artifact
from explainops_server.models.check import describe, estimator_problems
from explainops_server.models.features import FeatureSchema

RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 3))
FRAME = pd.DataFrame({"size": X[:, 0], "weight": X[:, 1], "colour": RNG.choice(["red", "green", "blue"], 80)})
BINARY, MULTI, VALUE = (X[:, 0] > 0).astype(int), RNG.integers(0, 3, 80), X[:, 0] * 2 + X[:, 1]


def categorical(final, encoder=None):
    encode = ColumnTransformer(
        [("num", StandardScaler(), ["size", "weight"]), ("cat", encoder or OneHotEncoder(), ["colour"])]
    )
    return make_pipeline(encode, final)


SUPPORTED = [
    (RandomForestClassifier(5, random_state=0), X, BINARY),
    (ExtraTreesClassifier(5, random_state=0), X, MULTI),
    (RandomForestRegressor(5, random_state=0), X, VALUE),
    (ExtraTreesRegressor(5, random_state=0), X, VALUE),
    (GradientBoostingClassifier(n_estimators=5), X, BINARY),
    (GradientBoostingClassifier(n_estimators=5), X, MULTI),
    (GradientBoostingRegressor(n_estimators=5), X, VALUE),
    (HistGradientBoostingClassifier(max_iter=5), X, BINARY),
    (HistGradientBoostingClassifier(max_iter=5), X, MULTI),
    (HistGradientBoostingRegressor(max_iter=5), X, VALUE),
    (LogisticRegression(), X, MULTI),
    (LinearRegression(), X, VALUE),
    (Ridge(), X, VALUE),
    (make_pipeline(StandardScaler(), LogisticRegression()), X, BINARY),
    (categorical(LogisticRegression()), FRAME, BINARY),
    (categorical(HistGradientBoostingRegressor(max_iter=5), OrdinalEncoder()), FRAME, VALUE),
]


@pytest.mark.parametrize(("estimator", "x", "y"), SUPPORTED, ids=[describe(e) for e, _, _ in SUPPORTED])
def test_every_supported_estimator_loads_from_skops_without_extra_trust(tmp_path, estimator, x, y):
    fitted = estimator.fit(x, y)
    path = tmp_path / "model.skops"
    skops.io.dump(fitted, path)
    loaded = load_estimator(path, "skops")
    np.testing.assert_allclose(loaded.predict(x), fitted.predict(x))


def doubled(x):
    return x * 2


def test_a_type_outside_the_list_is_refused_unless_the_artifact_lists_it(tmp_path):
    fitted = make_pipeline(FunctionTransformer(doubled), LogisticRegression()).fit(X, BINARY)
    path = tmp_path / "model.skops"
    skops.io.dump(fitted, path)
    name = f"{doubled.__module__}.doubled"
    with pytest.raises(ArtifactError, match=rf"outside the trusted set: {name}\. .*trusted_types"):
        load_estimator(path, "skops")
    assert load_estimator(path, "skops", extra_trusted=[name]).predict(X[:2]).shape == (2,)


def metadata(**changes) -> ModelMetadata:
    raw = {"name": "m", "version": "v1", "format": "skops", "model_file": "model.skops",
           "feature_names": ["size", "weight", "colour"], "class_names": ["no", "yes"], "background": "b.csv"}
    return ModelMetadata.from_dict({**raw, **changes})  # fmt: skip


def test_metadata_problems_name_their_field():
    with pytest.raises(ArtifactError, match="class_names must be empty for regression"):
        metadata(task="regression")
    with pytest.raises(ArtifactError, match="categories names 'shade', which is not a feature"):
        metadata(categories={"shade": ["dark"]})
    with pytest.raises(ArtifactError, match="task must be one of classification, regression"):
        metadata(task="ranking")
    assert metadata(task="regression", class_names=[]).output_names == ["target"]


def test_estimator_problems_compare_classes_features_and_task():
    forest = RandomForestClassifier(5, random_state=0).fit(FRAME[["size", "weight"]], MULTI)
    problems = estimator_problems(forest, metadata())
    assert "class_names: ['no', 'yes'] do not match the estimator's classes ['0', '1', '2']" in problems
    assert "feature_names: the estimator expects 2 features, metadata lists 3" in problems
    regressor = Ridge().fit(X, VALUE)
    assert estimator_problems(regressor, metadata()) == [
        "task: classification needs predict_proba; this model is Ridge"
    ]
    assert estimator_problems(regressor, metadata(task="regression", class_names=[])) == []
    assert estimator_problems(
        LogisticRegression().fit(X, BINARY), metadata(task="regression", class_names=[])
    ) == ["task: regression, but LogisticRegression is a classifier; use task classification"]


def test_schema_reads_mixed_rows_objects_and_bytes_into_one_numeric_form():
    schema = FeatureSchema(["size", "colour"], {"colour": ["blue", "red"]}, dataframe_input=True)
    rows = schema.encode_rows([[1.5, "red"], {"colour": "blue", "size": 2}], "instances")
    assert rows.tolist() == [[1.5, 1.0], [2.0, 0.0]]
    assert schema.encode_columns({"size": [3.0], "colour": [b"red"]}, "inputs").tolist() == [[3.0, 1.0]]
    assert schema.decode_rows(rows) == [[1.5, "red"], [2.0, "blue"]]
    frame = schema.estimator_input(rows)
    assert list(frame.columns) == ["size", "colour"] and frame["colour"].tolist() == ["red", "blue"]
    for row, words in [([1.0, "purple"], "unknown category 'purple' for column 'colour'"),
                       (["big", "red"], "column 'size' is numeric"),
                       ({"size": 1.0}, "missing column(s) 'colour'"),
                       ({"size": 1.0, "colour": "red", "age": 3}, "unknown column(s) 'age'")]:  # fmt: skip
        with pytest.raises(InvalidInput, match=re.escape(words)):
            schema.encode_rows([row], "instances")


def test_a_categorical_artifact_round_trips_with_strings_in_its_background(tmp_path):
    estimator = categorical(RandomForestClassifier(5, random_state=0)).fit(FRAME, BINARY)
    categories = {"colour": ["blue", "green", "red"]}
    schema = FeatureSchema(list(FRAME.columns), categories)
    background = schema.encode_rows(FRAME.head(10).values.tolist(), "background")
    write_artifact(tmp_path / "v1", estimator=estimator, name="m", version="v1", feature_names=list(FRAME.columns),
                   class_names=["no", "yes"], background=background, categories=categories)  # fmt: skip
    assert "red" in (tmp_path / "v1" / "background.csv").read_text() or "blue" in (
        tmp_path / "v1" / "background.csv"
    ).read_text()
    loaded = load_artifact(str(tmp_path / "v1"))
    assert json.loads((tmp_path / "v1" / "metadata.json").read_text())["categories"] == categories
    np.testing.assert_array_equal(loaded.background, background)
    assert loaded.schema.dataframe_input and loaded.schema.categorical_indices == {2: categories["colour"]}
