#!/usr/bin/env bash
# ensure-packages.sh CMD=PACKAGE ...: install the Debian packages whose command is missing.
# As root on Debian it runs apt-get; otherwise it stops with one line naming what is missing.
# A CMD may be an absolute path (for files that are not on PATH, e.g. CNI plugins).
set -euo pipefail
missing=()
for pair in "$@"; do
  cmd=${pair%%=*} pkg=${pair#*=}
  if [[ $cmd == /* ]]; then [ -e "$cmd" ] && continue; else command -v "$cmd" >/dev/null && continue; fi
  missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing Debian packages (install them as root): ${missing[*]}" >&2
  exit 1
fi
echo "[packages] apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
