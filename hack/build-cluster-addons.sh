#!/usr/bin/env bash
# Build the cluster add-ons that run beside the local node, from the Go module proxy:
#   kserve/      KServe's controller manager, its CRDs, webhook manifests and inferenceservice-config
#   knative/     Knative Serving's admission webhook and its CRDs and config maps (admission only)
#   coredns/     CoreDNS, the cluster DNS
# Each lands in ${XDG_CACHE_HOME:-~/.cache}/explainops/addons/<name>-<version>/ and is reused when present.
# Prints the add-ons root on the last line of stdout.
#
# KServe: v0.20.0 is the newest version the Go proxy serves (v0.21.x answers 403 "not available"); its
# InferenceService API is the one the Python kserve >= 0.21 client speaks.
set -euo pipefail

KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
KNATIVE_VERSION="${KNATIVE_VERSION:-v0.48.1}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.13.1}"
ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/explainops/addons"
mkdir -p "$ROOT"
log() { echo "[addons $(date +%H:%M:%S)] $*" >&2; }
command -v go >/dev/null || { log "go is required to build the cluster add-ons"; exit 1; }

exec 9>"$ROOT/.build.lock"
flock 9

# The module's source zip, unpacked read-only by the Go tool; prints its directory.
module_dir() { GOFLAGS=-mod=mod go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }

build_plain() {  # name version package-path binary: modules without replace directives
  local name=$1 version=$2 pkg=$3 bin=$4 out="$ROOT/$1-$2"
  [ -x "$out/$bin" ] && return 0
  log "building $name $version ($pkg)"
  local t0; t0=$(date +%s)
  mkdir -p "$out"
  GOBIN="$out/.gobin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$pkg@$version"
  mv "$out/.gobin/$(basename "${pkg%@*}")" "$out/$bin"
  rm -rf "$out/.gobin"
  log "built $name in $(( $(date +%s) - t0 )) s"
}

# --- KServe: a wrapper module, because kserve's go.mod carries replace and exclude directives -------
kserve_out="$ROOT/kserve-$KSERVE_VERSION"
if [ ! -x "$kserve_out/manager" ]; then
  t0=$(date +%s)
  src=$(module_dir "github.com/kserve/kserve@$KSERVE_VERSION")
  work="$ROOT/build-kserve-$KSERVE_VERSION"
  mkdir -p "$work" "$kserve_out"
  if [ ! -f "$work/go.mod" ]; then
    log "writing the wrapper module for kserve $KSERVE_VERSION"
    python3 - "$src/go.mod" "$KSERVE_VERSION" > "$work/go.mod" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
go = re.search(r"^go (\S+)", text, re.M).group(1)
print(f"module explainops.dev/kservebins\n\ngo {go}\n\nrequire github.com/kserve/kserve {sys.argv[2]}\n")
# Copy every replace and exclude line (single or block form); all of them name published versions.
for kind in ("replace", "exclude"):
    for block in re.findall(rf"^{kind} \((.*?)^\)", text, re.M | re.S):
        for line in block.strip().splitlines():
            if line.strip() and not line.strip().startswith("//"):
                print(f"{kind} {line.strip()}")
    for line in re.findall(rf"^{kind} ([^(\n].*)$", text, re.M):
        print(f"{kind} {line.strip()}")
PY
    printf '//go:build tools\n\npackage kservebins\n\nimport _ "github.com/kserve/kserve/cmd/manager"\n' > "$work/tools.go"
    log "resolving kserve's modules (go mod tidy, about 200 modules)"
    (cd "$work" && GOFLAGS=-mod=mod go mod tidy -e >&2)
  fi
  log "building kserve manager $KSERVE_VERSION (about 1,200 packages)"
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" \
     -o "$kserve_out/manager.tmp" github.com/kserve/kserve/cmd/manager)
  rm -rf "$kserve_out/crd" "$kserve_out/webhook" "$kserve_out/configmap"
  mkdir -p "$kserve_out/crd" "$kserve_out/webhook" "$kserve_out/configmap"
  # The serving kinds the manager watches; the LLM kinds need a conversion webhook and are left out.
  find "$src/config/crd/full" -name 'serving.kserve.io_*.yaml' ! -path '*llmisvc*' -exec cp {} "$kserve_out/crd/" \;
  cp "$src/config/webhook/manifests.yaml" "$kserve_out/webhook/manifests.yaml"
  cp "$src/config/configmap/inferenceservice.yaml" "$kserve_out/configmap/inferenceservice.yaml"
  chmod -R u+w "$kserve_out"
  mv "$kserve_out/manager.tmp" "$kserve_out/manager"
  log "built kserve in $(( $(date +%s) - t0 )) s"
fi

# --- Knative Serving's webhook (no replace directives) --------------------------------------------
knative_out="$ROOT/knative-$KNATIVE_VERSION"
build_plain knative "$KNATIVE_VERSION" knative.dev/serving/cmd/webhook webhook
if [ ! -d "$knative_out/crd" ]; then
  src=$(module_dir "knative.dev/serving@$KNATIVE_VERSION")
  mkdir -p "$knative_out/crd" "$knative_out/configmaps" "$knative_out/webhooks"
  cp "$src"/config/core/300-resources/*.yaml "$knative_out/crd/"
  cp "$src"/config/core/configmaps/*.yaml "$knative_out/configmaps/"
  cp "$src"/config/core/webhooks/*.yaml "$knative_out/webhooks/"
  chmod -R u+w "$knative_out"
fi

# --- CoreDNS (no replace directives) ---------------------------------------------------------------
build_plain coredns "$COREDNS_VERSION" github.com/coredns/coredns coredns

echo "$ROOT"
