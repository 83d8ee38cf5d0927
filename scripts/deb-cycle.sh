#!/usr/bin/env bash
# The .deb's install / upgrade / remove / purge cycle in a throwaway Debian bookworm root (debootstrap from the mirror
# apt uses; the base is cached in .build/debootstrap-bookworm.tar). usage: deb-cycle.sh DEB
# Prints one "ok ..." line per step; exits non-zero at the first failed step.
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=$(realpath "$1")
BASE=$(bash scripts/bookworm-base.sh)
ROOT=$(mktemp -d)
cleanup() { umount "$ROOT/proc" 2>/dev/null || true; rm -rf "$ROOT"; }
trap cleanup EXIT
tar -C "$ROOT" -xf "$BASE"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
# No service is started inside the throwaway root.
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d" && chmod +x "$ROOT/usr/sbin/policy-rc.d"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
step() { # step "what" COMMAND...: prints ok, or FAIL and exits
  local what=$1; shift
  if "$@"; then echo "ok $what"; else echo "FAIL $what"; exit 1; fi
}
cp "$DEB" "$ROOT/tmp/netpoller.deb"
in_root apt-get update -qq >/dev/null
in_root apt-get install -y -qq --no-install-recommends /tmp/netpoller.deb >/dev/null 2>&1
step "install: $(in_root dpkg-query -W -f='${Package} ${Version} ${Status}' netpoller)" \
  test "$(in_root dpkg-query -W -f='${Status}' netpoller)" = "install ok installed"
step "binary runs: $(in_root /usr/bin/netpoller version)" in_root /usr/bin/netpoller version
step "system user netpoller" in_root getent passwd netpoller
step "state dir /var/lib/netpoller owned by netpoller, mode 750" \
  test "$(in_root stat -c '%U %a' /var/lib/netpoller)" = "netpoller 750"
step "config readable by the netpoller group only" test "$(in_root stat -c '%G %a' /etc/netpoller/agent.conf)" = "netpoller 640"
step "check passes on the shipped config" \
  in_root /usr/bin/netpoller check --config /etc/netpoller/agent.conf --config-dir /etc/netpoller/conf.d
# An admin edits the config; an upgrade keeps the edit.
sed -i 's/^interval = "60s"/interval = "30s"/' "$ROOT/etc/netpoller/agent.conf"
work=$(mktemp -d)
dpkg-deb -R "$DEB" "$work/pkg"
sed -i 's/^Version: \(.*\)$/Version: \1+upgrade1/' "$work/pkg/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work/pkg" "$ROOT/tmp/netpoller-upgrade.deb" >/dev/null
rm -rf "$work"
in_root dpkg -i /tmp/netpoller-upgrade.deb >/dev/null
step "upgrade to $(in_root dpkg-query -W -f='${Version}' netpoller) kept the edited conffile" \
  grep -q '^interval = "30s"' "$ROOT/etc/netpoller/agent.conf"
touch "$ROOT/var/lib/netpoller/spool-marker"
in_root dpkg -r netpoller >/dev/null
step "remove: binary gone, config and state kept" \
  test ! -e "$ROOT/usr/bin/netpoller" -a -e "$ROOT/etc/netpoller/agent.conf" -a -e "$ROOT/var/lib/netpoller/spool-marker"
in_root dpkg -P netpoller >/dev/null
step "purge: state and config removed" test ! -e "$ROOT/var/lib/netpoller" -a ! -e "$ROOT/etc/netpoller"
echo "cycle complete"
