#!/usr/bin/env bash
# Copy the CRDs from crds/ (their single source) into the Helm chart, byte for byte.
#   hack/sync-chart-crds.sh          copy (and drop chart copies whose source is gone)
#   hack/sync-chart-crds.sh --check  exit 1 if the chart's copy differs from crds/
# tests/chart checks the same equality, so a CRD edited without a sync fails the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=crds
DST=charts/explainops/files/crds

shopt -s nullglob
sources=("$SRC"/*.yaml)
[ ${#sources[@]} -gt 0 ] || { echo "[sync-chart-crds] no CRD in $SRC/" >&2; exit 1; }

if [ "${1:-}" = "--check" ]; then
  diff -r --exclude='.*' "$SRC" "$DST" >&2 || { echo "[sync-chart-crds] $DST differs from $SRC: run hack/sync-chart-crds.sh" >&2; exit 1; }
  exit 0
fi

mkdir -p "$DST"
for copy in "$DST"/*.yaml; do
  [ -e "$SRC/$(basename "$copy")" ] || rm -v -- "$copy"
done
cp -v -- "${sources[@]}" "$DST"/
