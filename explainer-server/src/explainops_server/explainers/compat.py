"""Which explainer can explain which model, checked before an explainer is built. Pure.

A mismatch is reported as one line naming the field (`explainer: ...`) instead of a traceback from
inside the backend. `fatal` problems stop the server; the others leave predict serving and make
`:explain` answer 400 (the explainer itself refuses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The tree models TreeShap reads directly (scikit-learn class names).
TREE_ENSEMBLES = frozenset(
    {
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
    }
)

# Configuration names (server) -> the spec.explainer.type spelling users know.
DISPLAY_NAMES = {
    "anchor_tabular": "AnchorTabular",
    "kernel_shap": "KernelShap",
    "tree_shap": "TreeShap",
    "ale": "ALE",
}


@dataclass(frozen=True)
class Problem:
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"explainer: {self.message}"


def explainer_problems(name: str, model: Any) -> list[Problem]:
    """Problems of explaining `model` (an `ExplainableModel`) with the explainer `name`."""
    display = DISPLAY_NAMES.get(name, name)
    estimator = model.estimator
    kind = model.description
    problems: list[Problem] = []
    if name == "tree_shap":
        if type(estimator).__name__ not in TREE_ENSEMBLES:
            problems.append(
                Problem(
                    f"{display} needs a tree ensemble; this model is {kind}"
                    + (
                        " (TreeShap reads the trees on raw inputs, so no Pipeline)"
                        if hasattr(estimator, "steps")
                        else ""
                    )
                    + "; use KernelShap"
                )
            )
        elif (
            type(estimator).__name__ == "GradientBoostingClassifier"
            and len(getattr(estimator, "classes_", [])) > 2
        ):
            problems.append(
                Problem(
                    f"{display} supports GradientBoostingClassifier for two classes only; this model has "
                    f"{len(estimator.classes_)}; use HistGradientBoostingClassifier or KernelShap"
                )
            )
        if model.categorical_names:
            problems.append(
                Problem(f"{display} cannot read categorical columns; use KernelShap or AnchorTabular")
            )
    if name == "anchor_tabular" and model.is_regression:
        problems.append(
            Problem(
                f"{display} is defined for classifiers only; use KernelShap, TreeShap or ALE", fatal=False
            )
        )
    return problems
