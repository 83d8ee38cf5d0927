#!/usr/bin/env bash
# Builds the container image with buildah (chroot isolation, vfs storage under .build/containers) on a bookworm base
# made locally by debootstrap, then runs `netpoller check` and `once` inside it. usage: container-test.sh DEB ONCE_CONFIG
# ONCE_CONFIG is a config whose devices are reachable from this host (the image shares the host's network here).
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=$(realpath "$1")
ONCE_CONFIG=$(realpath "$2")
STORE=$PWD/.build/containers
B=(buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver vfs)
step() { local what=$1; shift; if "$@"; then echo "ok $what"; else echo "FAIL $what"; exit 1; fi; }
mkdir -p "$STORE"
# The base: the debootstrap root deb-cycle.sh caches, made into an image once.
if ! "${B[@]}" inspect --type image localhost/netpoller-base:bookworm >/dev/null 2>&1; then
  ctx=$(mktemp -d)
  cp "$(bash scripts/bookworm-base.sh)" "$ctx/rootfs.tar"
  "${B[@]}" bud --isolation chroot -q -f deploy/container/Containerfile.base -t localhost/netpoller-base:bookworm "$ctx" >/dev/null
  rm -rf "$ctx"
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp deploy/container/Containerfile "$DEB" "$ctx/"
step "image built" "${B[@]}" bud --isolation chroot -q --format docker --build-arg BASE=localhost/netpoller-base:bookworm \
  -t localhost/netpoller:test "$ctx"
inspect() { "${B[@]}" inspect --type image --format "$1" localhost/netpoller:test; }
step "runs as netpoller: $(inspect '{{.Docker.Config.User}}')" test "$(inspect '{{.Docker.Config.User}}')" = netpoller
step "volume /var/lib/netpoller" grep -q /var/lib/netpoller <<<"$(inspect '{{.Docker.Config.Volumes}}')"
step "HEALTHCHECK on /health" grep -q "/health" <<<"$(inspect '{{.Docker.Config.Healthcheck}}')"
c=$("${B[@]}" from -q localhost/netpoller:test)
# The test image goes when done (vfs keeps a full copy per layer); the base stays for the next run.
trap '"${B[@]}" rm "$c" >/dev/null 2>&1 || true; "${B[@]}" rmi -f localhost/netpoller:test >/dev/null 2>&1 || true; rm -rf "$ctx"' EXIT
mkdir -p "$ctx/conf"
cp "$ONCE_CONFIG" "$ctx/conf/agent.conf"
run() { "${B[@]}" run --isolation chroot -v "$ctx/conf:/etc/netpoller-test:ro" "$c" -- "$@"; }
step "netpoller check (shipped config)" run /usr/bin/netpoller check --config /etc/netpoller/agent.conf
step "netpoller check (mounted config)" run /usr/bin/netpoller check --config /etc/netpoller-test/agent.conf
out=$(run /usr/bin/netpoller once --config /etc/netpoller-test/agent.conf --format json || true)
step "netpoller once polled a device from inside the image" grep -q '"measurement"' <<<"$out"
echo "$out" | head -c 300; echo
echo "container complete"
