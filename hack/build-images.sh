#!/usr/bin/env bash
# Build the project's images from its Dockerfiles: explainops-server, explainops-operator, and the
# pod sandbox (pause) image the local node needs.
#
# - With a working Docker engine: `docker build`, as anywhere else.
# - Without one: buildah (Debian package), from the same Dockerfiles, each image written as a
#   docker-archive under ${XDG_CACHE_HOME:-~/.cache}/explainops/images/, keyed by the hash of its build
#   context (Dockerfile, lock, sources), so an unchanged tree does not rebuild. The local node imports
#   these archives into containerd when it starts.
# - The Debian base (`debian:13.8-slim` in the Dockerfiles) cannot be pulled here; it is made locally from
#   Debian's packages with mmdebstrap (minbase, the same set as the slim image) and tagged with that name.
# - `--flavour alibi` builds only the server's optional Alibi flavour (alibi 0.9.6, BSL 1.1; Python 3.11,
#   so on Debian 12 "bookworm"), tagged <repo>/explainops-server:<tag>-alibi, into flavours/ under the
#   archive directory: the local node imports every archive at the top level, and never needs this one.
# Prints the archive directory on the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 [--flavour alibi] [--print-archive] [DIR:NAME ...]" >&2; exit 2; }
flavour="" print_archive="" pairs=()
while [ $# -gt 0 ]; do
  case $1 in
    --flavour) [ $# -ge 2 ] && [ "$2" = alibi ] || usage; flavour=$2; shift 2 ;;
    --print-archive) print_archive=1; shift ;;  # the server archive this tree builds into; builds nothing
    *:*) pairs+=("$1"); shift ;;
    *) usage ;;
  esac
done

IMAGE_REPO="${IMAGE_REPO:-ghcr.io/explainops}"
IMAGE_TAG="${IMAGE_TAG:-0.1.0}"
PAUSE_IMAGE="${PAUSE_IMAGE:-explainops.local/pause:3.10}"
OUT="${XDG_CACHE_HOME:-$HOME/.cache}/explainops/images"
log() { echo "[images $(date +%H:%M:%S)] $*" >&2; }

debian_image="${DEBIAN_IMAGE:-$(sed -n 's/^ARG DEBIAN_IMAGE=//p' explainer-server/Dockerfile)}"
# Arguments, if any, replace the default list: DIR:NAME builds DIR/Dockerfile as $IMAGE_REPO/NAME.
components=(explainer-server:explainops-server operator:explainops-operator)
[ ${#pairs[@]} -eq 0 ] || components=("${pairs[@]}")
flavour_args=()
if [ "$flavour" = alibi ]; then
  debian_image="${DEBIAN_IMAGE:-debian:12.12-slim}"  # bookworm's Python 3.11, what requirements-alibi.lock is for
  components=(explainer-server:explainops-server-alibi)
  flavour_args=(--build-arg EXPLAINER_FLAVOUR=alibi)
  IMAGE_TAG="$IMAGE_TAG-alibi"
  OUT="$OUT/flavours"
fi

# Hash of a build context: the Dockerfile and every file it may copy (see .dockerignore).
context_hash() {
  local dir=$1
  local paths=() path
  for path in "$dir/pyproject.toml" "$dir/src" "$dir/Dockerfile" "$dir"/*.py; do
    [ -e "$path" ] && paths+=("$path")
  done
  { find requirements*.lock "${paths[@]}" .dockerignore -type f \
      ! -name '*.pyc' ! -path '*/__pycache__/*' ! -path '*.egg-info*' | LC_ALL=C sort | xargs sha256sum
    echo "$debian_image${flavour:+ $flavour}"; } | sha256sum | cut -c1-16
}

# The image a component is tagged as; a flavour keeps the server's name (its tag says the flavour).
image_of() {
  if [ -n "$flavour" ]; then echo "$IMAGE_REPO/explainops-server:$IMAGE_TAG"; else echo "$IMAGE_REPO/$1:$IMAGE_TAG"; fi
}

if [ -n "$print_archive" ]; then
  name=${components[0]#*:}
  echo "$OUT/$name-$(context_hash explainer-server).tar"
  exit 0
fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  for pair in "${components[@]}"; do
    dir=${pair%%:*} name=${pair#*:}
    docker build "${flavour_args[@]}" --build-arg "DEBIAN_IMAGE=$debian_image" -f "$dir/Dockerfile" \
      -t "$(image_of "$name")" .
  done
  echo "docker"
  exit 0
fi

hack/ensure-packages.sh buildah=buildah mmdebstrap=mmdebstrap gcc=gcc /usr/sbin/runc=runc
mkdir -p "$OUT"
exec 9>"${OUT%/flavours}/.build.lock"  # one lock for every build: buildah's store is shared
flock 9

# buildah runs RUN steps in a chroot with the host's network: its default runtime (crun) cannot
# handle this host's hybrid cgroups, and its default network backend leaves iptables chains behind.
bud=(buildah bud --layers --isolation chroot --network host --build-arg "DEBIAN_IMAGE=$debian_image" "${flavour_args[@]}")

# pip inside a build must trust the same CA bundle the host trusts. Mounted for the build only,
# never committed into an image.
build_mounts() {
  local ca=/etc/ssl/certs/ca-certificates.crt conf="${OUT%/flavours}/pip-build.conf"
  [ -f "$ca" ] || return 0
  printf '[global]\ncert = /etc/explainops-build-ca.crt\n' > "$conf"
  echo "-v" "$ca:/etc/explainops-build-ca.crt:ro" "-v" "$conf:/etc/pip.conf:ro"
}

# --- the Debian base -------------------------------------------------------------------------------
if ! buildah inspect --type image "$debian_image" >/dev/null 2>&1; then
  suite=trixie
  [[ $debian_image == debian:12* ]] && suite=bookworm
  log "making $debian_image from Debian's $suite packages (mmdebstrap minbase)"
  tmp=$(mktemp -d)
  mmdebstrap --quiet --variant=minbase --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$suite" "$tmp/rootfs.tar" http://deb.debian.org/debian
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$tmp/rootfs.tar" / >/dev/null
  buildah config --cmd '["bash"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --quiet --rm "$ctr" "docker.io/library/$debian_image" >/dev/null
  rm -rf "$tmp"
fi

save() {  # image archive-name
  buildah push --quiet "$1" "docker-archive:$OUT/$2.tar.tmp:$1" >/dev/null
  mv "$OUT/$2.tar.tmp" "$OUT/$2.tar"
}

read -r -a mounts <<< "$(build_mounts)"
for pair in "${components[@]}"; do
  dir=${pair%%:*} name=${pair#*:}
  hash=$(context_hash "$dir")
  if [ -f "$OUT/$name-$hash.tar" ]; then
    log "$name: unchanged ($hash)"
    continue
  fi
  image=$(image_of "$name")
  log "building $image from $dir/Dockerfile"
  t0=$(date +%s)
  "${bud[@]}" "${mounts[@]}" --quiet -f "$dir/Dockerfile" -t "$image" . >/dev/null
  rm -f "$OUT/$name"-*.tar
  save "$image" "$name-$hash"
  log "built $name in $(( $(date +%s) - t0 )) s: $(du -h "$OUT/$name-$hash.tar" | cut -f1)"
done

# --- the pod sandbox image: a static pause binary, nothing else --------------------------------------
if [ -n "$flavour" ]; then echo "$OUT"; exit 0; fi
pause_hash=$(sha256sum hack/pause/pause.c | cut -c1-16)
if [ ! -f "$OUT/pause-$pause_hash.tar" ]; then
  log "building $PAUSE_IMAGE"
  tmp=$(mktemp -d)
  gcc -static -Os -o "$tmp/pause" hack/pause/pause.c
  strip "$tmp/pause"
  ctr=$(buildah from scratch)
  buildah copy "$ctr" "$tmp/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  buildah commit --quiet --rm "$ctr" "$PAUSE_IMAGE" >/dev/null
  rm -f "$OUT"/pause-*.tar
  save "$PAUSE_IMAGE" "pause-$pause_hash"
  rm -rf "$tmp"
fi
echo "$OUT"
