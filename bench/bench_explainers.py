#!/usr/bin/env python3
"""Benchmark of the project's own explainers against alibi 0.9.6 and shap, measured side by side.

Not a test: it prints ratios against baselines measured in the same run. Runs in the default venv;
the alibi figures come from .venv-alibi (`make install-alibi`), started as a child process on the same
model artifact and rows. Everything stays on 127.0.0.1 and every loop is bounded.

    .venv/bin/python bench/bench_explainers.py [--quick] [--json figures.json]

Figures:
- Anchors per instance: alibi 0.9.6 in-process (on the same TabularModel predict; alibi's defaults, and
  the server's parameters) p50 / ours p50, same rows; both precisions;
- KernelShap: shap 0.54's KernelExplainer / ours, same 50 background rows and nsamples=200;
- TreeShap p50 per instance (ours), against calling shap's TreeExplainer directly;
- cold start, `explainops-server serve` to /v2/health/ready: ours (default backend) and the alibi
  flavour; import time of the server modules in each venv;
- the size of both venvs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
ALIBI_VENV = ROOT / ".venv-alibi"
IMPORT_SERVER = "import explainops_server.rest.app, explainops_server.service.dataplane, explainops_server.cli"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cold_start(venv: Path, version_dir: Path, data_dir: Path, *extra: str) -> float:
    """Seconds from spawning `serve` to the first 200 from /v2/health/ready."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPLAINOPS_")}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(venv / "bin" / "explainops-server"), "serve", "--model-name", "bench", "--model-uri", str(version_dir),
         "--data-dir", str(data_dir), "--host", "127.0.0.1", "--http-port", str(port), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        deadline = started + 120
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited {proc.returncode}: {proc.stderr.read().decode()[-1000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise RuntimeError("serve did not become ready in 120 s")
    finally:
        proc.terminate()
        proc.wait(30)


def import_seconds(venv: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(venv / "bin" / "python"), "-c", IMPORT_SERVER], check=True, timeout=120)
    return time.perf_counter() - started


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and repetitions")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    n_anchor, n_kernel, n_tree, n_starts = (5, 5, 50, 1) if args.quick else (20, 20, 200, 3)
    warnings.simplefilter("ignore")

    import shap

    from explainops_server.explainers.registry import build_explainer
    from explainops_server.models.artifact import read_feature_csv
    from explainops_server.models.example import train_example
    from explainops_server.models.tabular import TabularModel

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="explainops-bench-") as tmp:
        root = Path(tmp)
        outputs = train_example(root / "models", root / "data", seed=0)  # RandomForest(100, depth 6)
        model = TabularModel("bench", str(outputs.version_dir))
        model.load()
        holdout, _ = read_feature_csv(outputs.holdout_csv, model.feature_names)
        background = model.loaded.background

        # 1. Anchors: ours in-process vs alibi in-process (its venv), same model and rows ------------------
        rows = holdout[:n_anchor]
        (root / "rows.json").write_text(json.dumps(rows.tolist()))
        alibi_out = root / "alibi.json"
        subprocess.run(
            [str(ALIBI_VENV / "bin" / "python"), str(ROOT / "bench" / "alibi_side.py"),
             str(outputs.version_dir), str(root / "rows.json"), str(alibi_out)],
            check=True, timeout=3600,
        )  # fmt: skip
        alibi = json.loads(alibi_out.read_text())
        anchor = build_explainer("anchor_tabular", model, background, {})
        times, docs = [], []
        for row in rows:
            started = time.perf_counter()
            docs.append(anchor.explain_row(row))
            times.append(time.perf_counter() - started)
        for label in ("alibi_defaults", "same_parameters"):
            figures[f"anchor_alibi_{label}_p50_s"] = pct(alibi[label]["seconds"], 50)
            figures[f"anchor_alibi_{label}_min_precision"] = min(alibi[label]["precision"])
            figures[f"anchor_alibi_{label}_mean_coverage"] = statistics.mean(alibi[label]["coverage"])
            figures[f"anchor_speedup_vs_alibi_{label}"] = pct(alibi[label]["seconds"], 50) / pct(times, 50)
        figures.update(
            anchor_ours_p50_s=pct(times, 50),
            anchor_ours_min_precision=min(d["precision"] for d in docs),
            anchor_ours_mean_coverage=statistics.mean(d["coverage"] for d in docs),
        )

        # 2. KernelShap: ours vs shap's KernelExplainer, same background rows and nsamples ---------------
        rows = holdout[:n_kernel]
        bg = background[:50]
        ours_kernel = build_explainer("kernel_shap", model, bg, {"nsamples": 200, "background_size": 50})
        theirs_kernel = shap.KernelExplainer(model.predict_proba, bg, link="identity")
        ours_t, theirs_t, gaps = [], [], []
        for row in rows:
            started = time.perf_counter()
            mine = ours_kernel.explain_row(row)
            ours_t.append(time.perf_counter() - started)
            started = time.perf_counter()
            values = theirs_kernel.shap_values(row.reshape(1, -1), nsamples=200, l1_reg=False, silent=True)
            theirs_t.append(time.perf_counter() - started)
            gaps.append(float(np.abs(np.asarray(values)[0].T - np.asarray(mine["shap_values"])).max()))
        figures.update(
            kernel_shap_ours_p50_ms=pct(ours_t, 50) * 1e3,
            kernel_shap_shap_p50_ms=pct(theirs_t, 50) * 1e3,
            kernel_shap_speedup_vs_shap=pct(theirs_t, 50) / pct(ours_t, 50),
            kernel_shap_max_abs_difference=max(gaps),
        )

        # 3. TreeShap p50 per instance ---------------------------------------------------------------------
        tree = build_explainer("tree_shap", model, background, {})
        direct = shap.TreeExplainer(model.estimator)
        rows = holdout[np.arange(n_tree) % len(holdout)]
        ours_t, direct_t = [], []
        for row in rows:
            started = time.perf_counter()
            tree.explain_row(row)
            ours_t.append(time.perf_counter() - started)
            started = time.perf_counter()
            direct.shap_values(row.reshape(1, -1))
            direct_t.append(time.perf_counter() - started)
        figures.update(
            tree_shap_ours_p50_ms=pct(ours_t, 50) * 1e3,
            tree_shap_ours_p99_ms=pct(ours_t, 99) * 1e3,
            tree_shap_direct_p50_ms=pct(direct_t, 50) * 1e3,
        )

        # 4. cold start and imports, both venvs --------------------------------------------------------------
        data = root / "store"
        data.mkdir()
        starts = {
            "ours_tree_shap": (VENV, ("--explainer", "tree_shap")),
            "ours_anchor": (VENV, ("--explainer", "anchor_tabular")),
            "alibi_anchor": (ALIBI_VENV, ("--explainer", "anchor_tabular", "--explainer-backend", "alibi")),
        }
        for label, (venv, extra) in starts.items():
            figures[f"cold_start_{label}_s"] = statistics.median(
                cold_start(venv, outputs.version_dir, data, *extra) for _ in range(n_starts)
            )
        figures["cold_start_ratio_alibi_over_ours"] = figures["cold_start_alibi_anchor_s"] / figures["cold_start_ours_anchor_s"]
        for label, venv in (("ours", VENV), ("alibi", ALIBI_VENV)):
            figures[f"import_{label}_s"] = statistics.median(import_seconds(venv) for _ in range(n_starts))
        figures["venv_ours_mb"], figures["venv_alibi_mb"] = du_mb(VENV), du_mb(ALIBI_VENV)

    f = figures
    print("\nExplainer figures (same model, rows and machine; baselines measured in this run)")
    print(f"Anchors p50 per instance           ours {f['anchor_ours_p50_s'] * 1e3:.0f} ms, precision >= {f['anchor_ours_min_precision']:.3f}, mean coverage {f['anchor_ours_mean_coverage']:.3f}")
    for label in ("alibi_defaults", "same_parameters"):
        print(
            f"  vs alibi 0.9.6 ({label.replace('_', ' ')})".ljust(35)
            + f"{f[f'anchor_speedup_vs_alibi_{label}']:.1f}x faster (alibi {f[f'anchor_alibi_{label}_p50_s']:.2f} s, "
            f"precision >= {f[f'anchor_alibi_{label}_min_precision']:.3f}, mean coverage {f[f'anchor_alibi_{label}_mean_coverage']:.3f})"
        )
    print(f"KernelShap p50 (nsamples 200)      ours {f['kernel_shap_ours_p50_ms']:.1f} ms, shap {f['kernel_shap_shap_p50_ms']:.1f} ms: {f['kernel_shap_speedup_vs_shap']:.1f}x (largest difference {f['kernel_shap_max_abs_difference']:.3f}: different samples)")
    print(f"TreeShap p50 / p99                 {f['tree_shap_ours_p50_ms']:.2f} / {f['tree_shap_ours_p99_ms']:.2f} ms (shap's TreeExplainer alone {f['tree_shap_direct_p50_ms']:.2f} ms)")
    print(f"cold start serve -> ready          ours {f['cold_start_ours_tree_shap_s']:.2f} s (TreeShap), {f['cold_start_ours_anchor_s']:.2f} s (Anchors); alibi flavour {f['cold_start_alibi_anchor_s']:.2f} s: {f['cold_start_ratio_alibi_over_ours']:.1f}x")
    print(f"import of the server modules       ours {f['import_ours_s']:.2f} s, alibi flavour {f['import_alibi_s']:.2f} s")
    print(f"venv size (with dev tools)         ours {f['venv_ours_mb']:.0f} MB, alibi {f['venv_alibi_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
