#!/usr/bin/env bash
# Provision SeaweedFS's `weed` binary (Apache-2.0), whose S3 gateway the object-storage tests use.
#
# - Honours $WEED when it points at an executable.
# - Otherwise builds `weed` from the Go module proxy, cached under
#   ${XDG_CACHE_HOME:-~/.cache}/explainops/seaweedfs/<version>.
#   SeaweedFS tags releases without a "v", so the proxy knows it only by pseudo-version; the pin
#   below is a fixed commit (it reports itself as weed 4.53). A cold build took 595 s on 2 busy cores. Its go.mod has a `replace` line, so `go install pkg@version` refuses it:
#   the script downloads the module source and builds it as the main module, where the replace
#   applies and the module's own go.sum checks every dependency.
# - The build is niced: it competes with everything else for the cores.
# Prints the path of `weed` on the last line of stdout.
set -euo pipefail
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/explainops/seaweedfs"
BIN_DIR="$CACHE_ROOT/$SEAWEEDFS_VERSION"
log() { echo "[seaweedfs-bin $(date +%H:%M:%S)] $*" >&2; }

if [ -n "${WEED:-}" ] && [ -x "$WEED" ]; then echo "$WEED"; exit 0; fi
if [ -x "$BIN_DIR/weed" ]; then echo "$BIN_DIR/weed"; exit 0; fi
command -v go >/dev/null || { log "go is required to build SeaweedFS $SEAWEEDFS_VERSION"; exit 1; }
mkdir -p "$CACHE_ROOT"

# One build at a time: a second caller waits, then finds the cache filled.
if command -v flock >/dev/null; then
  exec 9>"$CACHE_ROOT/.build.lock"
  if ! flock -n 9; then
    log "another build is running; waiting for it"
    flock 9
  fi
fi
if [ -x "$BIN_DIR/weed" ]; then echo "$BIN_DIR/weed"; exit 0; fi

start=$(date +%s)
log "downloading github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION from the Go module proxy"
src_dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
work="$CACHE_ROOT/build-$SEAWEEDFS_VERSION"
rm -rf "$work"
mkdir -p "$work"
# The module cache is read-only; build from a writable copy.
cp -r "$src_dir/." "$work/"
chmod -R u+w "$work"
log "building weed (niced; about 10 minutes on 2 cores with a cold cache)"
(cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 10 go build -trimpath -o "$work/weed.bin" ./weed)
mkdir -p "$BIN_DIR"
install -m 0755 "$work/weed.bin" "$BIN_DIR/weed"
rm -rf "$work"
log "weed $("$BIN_DIR/weed" version 2>/dev/null | head -n1) at $BIN_DIR/weed in $(( $(date +%s) - start )) s"
echo "$BIN_DIR/weed"
