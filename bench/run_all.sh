#!/usr/bin/env bash
# Runs every benchmark (`make bench`). Benchmarks, not tests: each prints ratios against a baseline
# it measures in the same run. KUBEBUILDER_ASSETS must name the control-plane binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# The server's baselines (stock KServe 0.20, alibi 0.9.6) live in the alibi venv; ours comes from .venv.
echo "== server: bench/bench_server.py"; .venv-alibi/bin/python bench/bench_server.py --ours-bin .venv/bin "$@"
echo "== explainers: bench/bench_explainers.py"; $PY bench/bench_explainers.py
echo "== operator: bench/bench_operator.py"; $PY bench/bench_operator.py
echo "== retraining: bench/bench_retraining.py"; $PY bench/bench_retraining.py
