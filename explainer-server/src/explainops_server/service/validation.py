"""The checks an artifact passes before it is served: `validate` runs them all, `serve` at start.

1. load the estimator (skops allow-list, or joblib with trust) and check it against metadata.json:
   task, feature names, classes, categories (`models.check`);
2. check that the configured explainer can explain this model (`explainers.compat`);
3. predict on background rows and check the outputs' shape and values;
4. explain one background row.
Each problem is one line that starts with the field at fault (`class_names: ...`, `explainer: ...`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explainops_server.errors import ArtifactError, ExplainOpsError
from explainops_server.explainers.base import Explainer
from explainops_server.explainers.compat import DISPLAY_NAMES, explainer_problems
from explainops_server.explainers.registry import build_explainer
from explainops_server.models.tabular import TabularModel

log = logging.getLogger(__name__)

PREDICT_CHECK_ROWS = 5


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)
    # what was checked, for the success message
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def output_problems(model: TabularModel) -> list[str]:
    """Predict on a few background rows: one finite output per row and output name; probabilities sum to 1."""
    rows = model.loaded.background[:PREDICT_CHECK_ROWS]
    try:
        outputs = model.predict_outputs(rows)
    except Exception as exc:  # the estimator's own error: report it, do not crash
        return [f"model: predict failed on background rows: {type(exc).__name__}: {exc}"]
    expected = (len(rows), len(model.output_names))
    if outputs.shape != expected:
        what = "class_names" if not model.is_regression else "task"
        return [
            f"{what}: the model returns outputs of shape {list(outputs.shape)}, expected {list(expected)}"
        ]
    if not np.isfinite(outputs).all():
        return ["model: predict returned NaN or infinity on background rows"]
    if not model.is_regression and not np.allclose(outputs.sum(axis=1), 1.0, atol=1e-6):
        return ["model: predict_proba rows do not sum to 1"]
    return []


def explain_one_row(explainer: Explainer, model: TabularModel) -> list[str]:
    display = DISPLAY_NAMES.get(explainer.name, explainer.name)
    try:
        if explainer.name == "ale":
            explainer.explain_global()
        else:
            explainer.explain_row(model.loaded.background[0])
    except ExplainOpsError as exc:
        return [f"explainer: {display} failed on one row: {exc.detail}"]
    except Exception as exc:
        return [f"explainer: {display} failed on one row: {type(exc).__name__}: {exc}"]
    return []


def check_startup(model: TabularModel, explainer_name: str) -> None:
    """What `serve` checks before it builds the explainer. Raises with every fatal problem, one per line."""
    problems = output_problems(model)
    if problems:
        raise ArtifactError("\n".join(problems))
    fatal = []
    for problem in explainer_problems(explainer_name, model):
        if problem.fatal:
            fatal.append(str(problem))
        else:
            log.warning("%s (predict is served; :explain answers 400)", problem)
    if fatal:  # the model and the configured explainer do not fit: an artifact problem (exit 3), not a setting
        raise ArtifactError("\n".join(fatal))


def validate_artifact(
    uri: str,
    *,
    explainer: str,
    explainer_params: dict[str, Any] | None = None,
    model_format: str | None = None,
    trust_pickle: bool = False,
    name: str = "model",
) -> ValidationReport:
    """All four checks; every problem found, not only the first."""
    report = ValidationReport()
    model = TabularModel(name, uri, model_format=model_format, trust_pickle=trust_pickle)
    try:
        model.load()
    except ExplainOpsError as exc:
        report.problems.extend(line for line in exc.detail.splitlines() if line)
        return report
    meta = model.loaded.metadata
    report.summary = {
        "version": meta.version,
        "task": meta.task,
        "estimator": model.description,
        "features": len(meta.feature_names),
        "categorical": sorted(meta.categories),
        "classes": meta.class_names,
        "explainer": DISPLAY_NAMES.get(explainer, explainer),
        "trusted_types": meta.trusted_types,
    }
    report.problems.extend(output_problems(model))
    compat = explainer_problems(explainer, model)
    report.problems.extend(str(p) for p in compat)
    if report.problems:
        return report
    try:
        built = build_explainer(explainer, model, model.loaded.background, explainer_params or {})
    except ExplainOpsError as exc:
        report.problems.append(f"explainer: {exc.detail}")
        return report
    except Exception as exc:
        report.problems.append(f"explainer: cannot be built for this model: {type(exc).__name__}: {exc}")
        return report
    report.problems.extend(explain_one_row(built, model))
    return report
