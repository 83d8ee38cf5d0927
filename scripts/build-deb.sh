#!/usr/bin/env bash
# make deb: builds netpoller_<version>_<arch>.deb with dpkg-deb from a binary (default: the release build with the
# Swift runtime linked in, so the package needs only Debian's libraries). usage: build-deb.sh [BINARY] [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build/deb/release/netpoller}
OUT=${2:-.build/deb}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
VERSION=$("$BIN" version | awk '{print $2}')
ARCH=$(dpkg --print-architecture)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/netpoller_${VERSION}_${ARCH}"
DOC="$ROOT/usr/share/doc/netpoller"
install -d "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/lib/systemd/system" "$ROOT/etc/netpoller/conf.d" "$DOC" \
  "$ROOT/usr/share/man/man1"
install -m 0755 "$BIN" "$ROOT/usr/bin/netpoller"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$ROOT/usr/bin/netpoller"
install -m 0644 deploy/systemd/netpoller.service "$ROOT/lib/systemd/system/netpoller.service"
install -m 0644 deploy/debian/agent.conf "$ROOT/etc/netpoller/agent.conf"
install -m 0644 deploy/debian/conf.d-README "$ROOT/etc/netpoller/conf.d/README"
install -m 0644 README.md agent.conf.example "$DOC/"
for f in docs/*.md; do install -m 0644 "$f" "$DOC/"; done
gzip -9n "$DOC"/*.md "$DOC/agent.conf.example"
bash scripts/manpage.sh "$BIN" | gzip -9n > "$ROOT/usr/share/man/man1/netpoller.1.gz"
chmod 0644 "$ROOT/usr/share/man/man1/netpoller.1.gz"
cat > "$DOC/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: netpoller
Source: https://github.com/netpoller/netpoller

Files: *
Copyright: 2026 the netpoller authors
License: Apache-2.0

License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
printf 'netpoller (%s) unstable; urgency=medium\n\n  * Release %s (see README.md).\n\n -- netpoller maintainers <netpoller@example.org>  %s\n' \
  "$VERSION" "$VERSION" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n > "$DOC/changelog.gz"
# Depends: the shared libraries the binary links, as dpkg-shlibdeps finds them on this system.
mkdir -p "$WORK/src/debian"
printf 'Source: netpoller\n\nPackage: netpoller\nArchitecture: any\n' > "$WORK/src/debian/control"
SHLIBS=$(cd "$WORK/src" && dpkg-shlibdeps -O "$ROOT/usr/bin/netpoller" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: netpoller
Version: $VERSION
Architecture: $ARCH
Maintainer: netpoller maintainers <netpoller@example.org>
Installed-Size: $(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
Depends: $SHLIBS, adduser
Section: net
Priority: optional
Homepage: https://github.com/netpoller/netpoller
Description: network device poller for Prometheus (SNMP, SSH, discovery)
 netpoller polls network devices over SNMP (v1, v2c, v3) and SSH (CLI output
 parsed with TextFSM, regular expressions or JSON), discovers them by sweeps
 and LLDP/CDP neighbours, and writes their metrics to PostgreSQL, InfluxDB or
 files with a disk spool per output. It serves Prometheus metrics, /health,
 /ready and /status, and runs under systemd as a notify service.
CONTROL
printf '/etc/netpoller/agent.conf\n/etc/netpoller/conf.d/README\n' > "$ROOT/DEBIAN/conffiles"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$ROOT/DEBIAN/"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's| \./| |') \
  > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/md5sums"
mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT/netpoller_${VERSION}_${ARCH}.deb" >/dev/null
echo "$OUT/netpoller_${VERSION}_${ARCH}.deb"
