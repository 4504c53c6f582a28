"""Checks of a loaded estimator against what its metadata claims. Pure: no I/O.

Each problem is one line that names the metadata field at fault, so a user fixes the artifact
instead of reading a traceback at the first request.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def describe(estimator: Any) -> str:
    """A short structural name: `Pipeline(StandardScaler, LogisticRegression)`."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list):
        return f"{type(estimator).__name__}({', '.join(describe(step) for _, step in steps)})"
    transformers = getattr(estimator, "transformers", None)
    if isinstance(transformers, list) and hasattr(estimator, "remainder"):
        inner = [describe(t) for _, t, _ in transformers if not isinstance(t, str)]
        return f"{type(estimator).__name__}({', '.join(inner)})"
    return type(estimator).__name__


def final_estimator(estimator: Any) -> Any:
    """The last step of a Pipeline (recursively), else the estimator itself."""
    steps = getattr(estimator, "steps", None)
    while isinstance(steps, list) and steps:
        estimator = steps[-1][1]
        steps = getattr(estimator, "steps", None)
    return estimator


def is_classifier(estimator: Any) -> bool:
    return getattr(final_estimator(estimator), "_estimator_type", None) == "classifier" or hasattr(
        estimator, "classes_"
    )


def classes_match(classes: Any, class_names: list[str]) -> bool:
    """The estimator's classes are the names themselves, or the indices 0..n-1 (a retrained model)."""
    values = list(np.asarray(classes).tolist())
    if len(values) != len(class_names):
        return False
    return [str(v) for v in values] == list(class_names) or values == list(range(len(values)))


def estimator_problems(estimator: Any, metadata: Any) -> list[str]:
    """What does not fit between the estimator and metadata.json (task, features, classes, categories)."""
    problems: list[str] = []
    kind = describe(estimator)
    names = list(metadata.feature_names)
    if metadata.task == "classification":
        if not hasattr(estimator, "predict_proba"):
            problems.append(f"task: classification needs predict_proba; this model is {kind}")
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            if hasattr(estimator, "predict_proba"):
                problems.append(f"task: classification, but {kind} has no classes_ (is it a regressor?)")
        elif not classes_match(classes, metadata.class_names):
            problems.append(
                f"class_names: {list(metadata.class_names)} do not match the estimator's classes "
                f"{[str(c) for c in np.asarray(classes).tolist()]}"
            )
    else:
        if not hasattr(estimator, "predict"):
            problems.append(f"task: regression needs predict; this model is {kind}")
        elif is_classifier(estimator):
            problems.append(f"task: regression, but {kind} is a classifier; use task classification")
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and n_features != len(names):
        problems.append(
            f"feature_names: the estimator expects {n_features} features, metadata lists {len(names)}"
        )
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and n_features == len(names):
        fitted = [str(n) for n in np.asarray(fitted_names).tolist()]
        if fitted != names:
            differ = [f"{a!r} != {b!r}" for a, b in zip(names, fitted, strict=True) if a != b][:3]
            problems.append(
                f"feature_names: must equal the estimator's feature_names_in_ in order ({'; '.join(differ)})"
            )
    if metadata.categories and fitted_names is None:
        problems.append(
            "categories: categorical columns need an estimator fitted on a DataFrame that encodes them "
            f"(a Pipeline with a ColumnTransformer); this model is {kind}"
        )
    return problems
