#!/usr/bin/env bash
# Makes (once) .build/debootstrap-bookworm.tar: a minimal Debian bookworm root from the mirror apt uses, for the .deb's
# install cycle and the container image's base. Prints its path.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=.build/debootstrap-bookworm.tar
if [ ! -s "$BASE" ]; then
  MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  tmp=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$tmp/root" "${MIRROR:-http://deb.debian.org/debian}" >/dev/null
  tar -C "$tmp/root" -cf "$BASE.part" . && mv "$BASE.part" "$BASE"
  rm -rf "$tmp"
fi
echo "$PWD/$BASE"
