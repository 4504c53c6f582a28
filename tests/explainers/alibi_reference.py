"""Reference explanations from the Alibi backend, for the parity tests. Runs in .venv-alibi:

    python alibi_reference.py REQUEST.json OUT.json

REQUEST: {"model_dir": ..., "rows": [[...]], "runs": [{"explainer": ..., "params": {...}}]}.
OUT: one entry per run: {"explanations": [...]} (local) or {"explanation": {...}} (ALE).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from explainops_server.explainers.registry import build_explainer
from explainops_server.models.tabular import TabularModel


def main(request_path: str, out_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    model = TabularModel("reference", request["model_dir"])
    model.load()
    rows = np.asarray(request["rows"], dtype=np.float64)
    results = []
    for run in request["runs"]:
        explainer = build_explainer(run["explainer"], model, model.loaded.background, run["params"], backend="alibi")
        if run["explainer"] == "ale":
            results.append({"explanation": explainer.explain_global()})
        else:
            results.append({"explanations": [explainer.explain_row(row) for row in rows]})
    Path(out_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:3])
