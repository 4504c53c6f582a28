#!/usr/bin/env python3
"""The alibi side of bench_explainers.py; runs in .venv-alibi (alibi 0.9.6 in-process).

    alibi_side.py VERSION_DIR ROWS.json OUT.json

Times alibi's AnchorTabular per instance on the served model's own predict (the same `TabularModel`
the server uses), twice: with alibi's defaults, and with the server's default Anchors parameters.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def main(version_dir: str, rows_path: str, out_path: str) -> None:
    from alibi.explainers import AnchorTabular

    from explainops_server.explainers.params import AnchorParams
    from explainops_server.models.tabular import TabularModel

    warnings.simplefilter("ignore")
    model = TabularModel("bench", version_dir)
    model.load()
    rows = np.asarray(json.loads(Path(rows_path).read_text()), dtype=np.float64)
    ours = AnchorParams()
    settings = {
        "alibi_defaults": {"threshold": 0.95},
        "same_parameters": {
            "threshold": ours.threshold,
            "batch_size": ours.batch_size,
            "coverage_samples": ours.coverage_samples,
            "beam_size": ours.beam_size,
            "delta": ours.delta,
            "tau": ours.tau,
        },
    }
    out = {}
    for label, kwargs in settings.items():
        explainer = AnchorTabular(
            lambda x: np.argmax(model.predict_proba(x), axis=1), list(model.feature_names), seed=0
        )
        explainer.fit(model.loaded.background, disc_perc=tuple(ours.disc_perc))
        times, precisions, coverages = [], [], []
        for row in rows:
            started = time.perf_counter()
            data = explainer.explain(row.reshape(1, -1), **kwargs).data
            times.append(time.perf_counter() - started)
            precisions.append(float(np.asarray(data["precision"]).item()))
            coverages.append(float(np.asarray(data["coverage"]).item()))
        out[label] = {"seconds": times, "precision": precisions, "coverage": coverages}
    Path(out_path).write_text(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
