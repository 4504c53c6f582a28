#!/usr/bin/env bash
# Runs every benchmark (`make bench`). Benchmarks, not tests: each prints ratios against a baseline
# it measures in the same run. The cluster benchmarks start the local node (root; `make cluster-bins images` first).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# The server's baselines (stock KServe 0.20, alibi 0.9.6) live in the alibi venv; ours comes from .venv.
echo "== server: bench/bench_server.py"; .venv-alibi/bin/python bench/bench_server.py --ours-bin .venv/bin "$@"
echo "== explainers: bench/bench_explainers.py"; $PY bench/bench_explainers.py
echo "== cold start: bench/bench_cold_start.py"; $PY bench/bench_cold_start.py
echo "== monitoring: bench/bench_monitoring.py"; $PY bench/bench_monitoring.py
echo "== operator: bench/bench_operator.py"; $PY bench/bench_operator.py
echo "== cluster: bench/bench_cluster.py"; $PY bench/bench_cluster.py
