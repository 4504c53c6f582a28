#!/usr/bin/env bash
# Runs every benchmark (`make bench`). Benchmarks, not tests: each prints ratios against a baseline
# it measures in the same run. The cluster benchmarks start the local node (root; `make cluster-bins images` first).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
echo "== server: bench/bench_server.py"; $PY bench/bench_server.py "$@"
echo "== operator: bench/bench_operator.py"; $PY bench/bench_operator.py
