"""Parity of the project's own explainers with alibi 0.9.6, on the same models and rows.

The reference explanations come from the Alibi backend running in .venv-alibi (`alibi_reference.py`,
started as a child process); EXPLAINOPS_ALIBI_PYTHON names its interpreter (`make test` sets it).

Tolerances, and why:
- TreeShap: within 1e-9 of alibi's (shap 0.43); both are exact.
- KernelShap: within 1e-9 where both enumerate every coalition (iris, 4 features, full background):
  then both are the exact Shapley values. With sampled coalitions the two draw different samples.
- Anchors: every anchor meets the 0.95 precision threshold; the mean coverage over the rows is at
  least alibi's minus 0.05. Per row the two searches may settle on different anchors, so per-row
  coverage is not compared.
- ALE: on alibi's grid, within 1e-9 of alibi's curves; on our own grid (each implementation picks its
  own number of quantiles), within 0.025 in probability everywhere, interpolated onto alibi's grid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explainops_server.explainers.ale import ale_curve
from explainops_server.explainers.registry import build_explainer

from .conftest import BACKEND, Fitted

pytestmark = pytest.mark.slow

ALIBI_PYTHON = Path(os.environ.get("EXPLAINOPS_ALIBI_PYTHON", Path(__file__).parents[2] / ".venv-alibi/bin/python"))
REFERENCE_SCRIPT = Path(__file__).with_name("alibi_reference.py")
ANCHOR_ROWS, SHAP_ROWS = 10, 5
COVERAGE_TOLERANCE = 0.05
ALE_OWN_GRID_TOLERANCE = 0.025


def reference(tmp: Path, model_dir: Path, rows: np.ndarray, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if BACKEND == "alibi":
        pytest.skip("parity compares the default backend with alibi; this run is the alibi backend itself")
    if not ALIBI_PYTHON.exists():
        pytest.skip(f"no alibi venv at {ALIBI_PYTHON}: run `make install-alibi`")
    request, out = tmp / "request.json", tmp / "reference.json"
    request.write_text(json.dumps({"model_dir": str(model_dir), "rows": rows.tolist(), "runs": runs}))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(ALIBI_PYTHON), str(REFERENCE_SCRIPT), str(request), str(out)],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def breast_cancer_reference(tmp_path_factory, breast_cancer_dir) -> list[dict[str, Any]]:
    model_dir, rows = breast_cancer_dir
    runs = [
        {"explainer": "tree_shap", "params": {}},
        {"explainer": "anchor_tabular", "params": {}},
        {"explainer": "ale", "params": {}},
    ]
    return reference(tmp_path_factory.mktemp("ref-bc"), model_dir, rows[:ANCHOR_ROWS], runs)


@pytest.fixture(scope="module")
def iris_reference(tmp_path_factory, iris_dir) -> list[dict[str, Any]]:
    model_dir, rows = iris_dir
    runs = [{"explainer": "kernel_shap", "params": {"background_size": 10_000, "nsamples": 100}}]
    return reference(tmp_path_factory.mktemp("ref-iris"), model_dir, rows, runs)


def test_tree_shap_equals_alibi_within_1e9(breast_cancer: Fitted, breast_cancer_reference):
    ours = build_explainer("tree_shap", breast_cancer.model, breast_cancer.background, {})
    for theirs, row in zip(breast_cancer_reference[0]["explanations"][:SHAP_ROWS], breast_cancer.rows, strict=False):
        mine = ours.explain_row(row)
        assert np.abs(np.subtract(mine["shap_values"], theirs["shap_values"])).max() <= 1e-9
        assert np.abs(np.subtract(mine["expected_value"], theirs["expected_value"])).max() <= 1e-9
        assert mine["predicted_class"] == theirs["predicted_class"]


def test_kernel_shap_equals_alibi_within_1e9_when_every_coalition_is_enumerated(iris: Fitted, iris_reference):
    params = {"background_size": 10_000, "nsamples": 100}  # 2^4 - 2 = 14 coalitions, all of them
    ours = build_explainer("kernel_shap", iris.model, iris.background, params)
    theirs_all = iris_reference[0]["explanations"]
    assert len(theirs_all) == len(iris.rows)
    for theirs, row in zip(theirs_all, iris.rows, strict=True):
        mine = ours.explain_row(row)
        assert np.shape(mine["shap_values"]) == (3, 4)
        assert np.abs(np.subtract(mine["shap_values"], theirs["shap_values"])).max() <= 1e-9
        assert np.abs(np.subtract(mine["expected_value"], theirs["expected_value"])).max() <= 1e-9


def test_anchors_meet_the_threshold_with_coverage_close_to_alibis(breast_cancer: Fitted, breast_cancer_reference):
    ours = build_explainer("anchor_tabular", breast_cancer.model, breast_cancer.background, {})
    theirs = breast_cancer_reference[1]["explanations"]
    mine = [ours.explain_row(row) for row in breast_cancer.rows[:ANCHOR_ROWS]]
    assert len(theirs) == len(mine) == ANCHOR_ROWS
    for doc in mine:
        assert doc["precision"] >= 0.95 and doc["anchor"]
    for doc, ref in zip(mine, theirs, strict=True):
        assert doc["predicted_class"] == ref["predicted_class"]
    ours_coverage = np.mean([d["coverage"] for d in mine])
    alibi_coverage = np.mean([d["coverage"] for d in theirs])
    print(f"mean anchor coverage: ours {ours_coverage:.3f}, alibi {alibi_coverage:.3f}", file=sys.stderr)
    assert ours_coverage >= alibi_coverage - COVERAGE_TOLERANCE


def test_ale_equals_alibi_on_the_same_grid_and_is_close_on_its_own(breast_cancer: Fitted, breast_cancer_reference):
    theirs = breast_cancer_reference[2]["explanation"]
    model, data = breast_cancer.model, breast_cancer.background
    own = build_explainer("ale", model, data, {}).explain_global()
    assert own["constant_value"] == pytest.approx(theirs["constant_value"], abs=1e-12)
    for j, (ref, mine) in enumerate(zip(theirs["features"], own["features"], strict=True)):
        grid, curve = np.asarray(ref["feature_values"]), np.asarray(ref["ale_values"])
        same_grid, ale0 = ale_curve(model.predict_proba, data, j, grid)
        assert np.abs(same_grid - curve).max() <= 1e-9, ref["feature"]
        assert np.abs(ale0 - np.asarray(ref["ale0"])).max() <= 1e-9
        own_grid, own_curve = np.asarray(mine["feature_values"]), np.asarray(mine["ale_values"])
        for cls in range(curve.shape[1]):
            on_their_grid = np.interp(grid, own_grid, own_curve[:, cls])
            assert np.abs(on_their_grid - curve[:, cls]).max() <= ALE_OWN_GRID_TOLERANCE, ref["feature"]
