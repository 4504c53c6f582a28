"""Small fitted estimators of every supported kind, on one synthetic table with a string column.

The table: three numeric columns and `colour` (red / green / blue). The classification target
depends on `size` and on `colour == red`, the regression target on all columns; both are learnable,
so a fitted model beats chance and retraining has something to learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
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
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

NUMERIC = ["size", "weight", "temperature"]
COLOURS = ["red", "green", "blue"]
ROWS = 240


def table(seed: int = 0, rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows).round(3) for name in NUMERIC})
    frame["colour"] = rng.choice(COLOURS, rows)
    return frame


def binary_target(frame: pd.DataFrame) -> np.ndarray:
    return np.where((frame["size"] > 0.3) | (frame["colour"] == "red"), "reject", "accept")


def multiclass_target(frame: pd.DataFrame) -> np.ndarray:
    return np.digitize(frame["size"] + (frame["colour"] == "red") * 1.0, [0.0, 1.0])  # 0, 1, 2


def regression_target(frame: pd.DataFrame) -> np.ndarray:
    return (
        2.0 * frame["size"] - frame["weight"] + 0.5 * frame["temperature"] + (frame["colour"] == "red") * 1.5
    ).to_numpy()


def _encoder(kind: str) -> Any:
    if kind == "onehot":
        return OneHotEncoder(handle_unknown="ignore")
    return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)


def categorical_pipeline(model: Any, encoder: str = "onehot") -> Pipeline:
    prep = ColumnTransformer([("num", StandardScaler(), NUMERIC), ("cat", _encoder(encoder), ["colour"])])
    return Pipeline([("prep", prep), ("model", model)])


@dataclass(frozen=True)
class Case:
    id: str
    task: str  # classification | regression
    make: Any  # () -> unfitted estimator
    target: Any  # frame -> y
    categorical: bool  # fitted on the DataFrame with `colour`, else on the numeric columns only
    explainer: str
    plain_array: bool = False  # fitted on a numpy array (no feature names), not a DataFrame


CASES = [
    Case(
        "rf-binary",
        "classification",
        lambda: RandomForestClassifier(20, max_depth=4, random_state=0),
        binary_target,
        False,
        "tree_shap",
        plain_array=True,
    ),
    Case(
        "extratrees-multiclass",
        "classification",
        lambda: ExtraTreesClassifier(20, max_depth=5, random_state=0),
        multiclass_target,
        False,
        "tree_shap",
    ),
    Case(
        "gb-binary",
        "classification",
        lambda: GradientBoostingClassifier(n_estimators=20, random_state=0),
        binary_target,
        False,
        "tree_shap",
    ),
    Case(
        "hgb-multiclass",
        "classification",
        lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0),
        multiclass_target,
        False,
        "tree_shap",
    ),
    Case(
        "scaled-logistic",
        "classification",
        lambda: make_pipeline(StandardScaler(), LogisticRegression()),
        binary_target,
        False,
        "kernel_shap",
    ),
    Case(
        "onehot-logistic",
        "classification",
        lambda: categorical_pipeline(LogisticRegression()),
        binary_target,
        True,
        "kernel_shap",
    ),
    Case(
        "ordinal-forest-multiclass",
        "classification",
        lambda: categorical_pipeline(RandomForestClassifier(20, max_depth=5, random_state=0), "ordinal"),
        multiclass_target,
        True,
        "anchor_tabular",
    ),
    Case(
        "rf-regressor",
        "regression",
        lambda: RandomForestRegressor(20, max_depth=5, random_state=0),
        regression_target,
        False,
        "tree_shap",
    ),
    Case(
        "extratrees-regressor",
        "regression",
        lambda: ExtraTreesRegressor(20, max_depth=5, random_state=0),
        regression_target,
        False,
        "tree_shap",
    ),
    Case(
        "gb-regressor",
        "regression",
        lambda: GradientBoostingRegressor(n_estimators=30, random_state=0),
        regression_target,
        False,
        "tree_shap",
    ),
    Case(
        "hgb-regressor",
        "regression",
        lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0),
        regression_target,
        False,
        "tree_shap",
    ),
    Case(
        "linear-regression", "regression", lambda: LinearRegression(), regression_target, False, "kernel_shap"
    ),
    Case("onehot-ridge", "regression", lambda: categorical_pipeline(Ridge()), regression_target, True, "ale"),
]


def features(case: Case, frame: pd.DataFrame) -> Any:
    if case.categorical:
        return frame
    return frame[NUMERIC].to_numpy() if case.plain_array else frame[NUMERIC]


def feature_names(case: Case) -> list[str]:
    return [*NUMERIC, "colour"] if case.categorical else list(NUMERIC)


def fitted(case: Case, frame: pd.DataFrame) -> Any:
    return case.make().fit(features(case, frame), case.target(frame))
