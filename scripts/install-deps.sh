#!/usr/bin/env bash
# Installs what netpoller needs to build, run its lab and run its tests, if missing. Idempotent; sudo only for apt.
set -euo pipefail
APT_PACKAGES=(libsnmp-dev libssh2-1-dev libpq-dev libcurl4-openssl-dev zlib1g-dev pkg-config snmpd snmp prometheus
  python3-pip curl postgresql influxdb victoria-metrics openssl)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian enables the system snmpd, prometheus, postgresql, influxdb and victoria-metrics services on install; the lab
# runs its own on loopback ports (scripts/lab.sh, scripts/pg.sh, scripts/influx.sh).
if python3 -c "import snmpsim, pysmi" 2>/dev/null; then :; else
  echo "installing: snmpsim pysmi (pip)"
  python3 -m pip install -q snmpsim pysmi 2>/dev/null || python3 -m pip install -q --break-system-packages snmpsim pysmi
fi
command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6 toolchain required)"; exit 1; }
