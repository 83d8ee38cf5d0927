#!/usr/bin/env bash
# Installs what netpoller needs to build, run its lab and run its tests, if missing. Idempotent; sudo only for apt.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES=(libsnmp-dev libssh2-1-dev libpq-dev libcurl4-openssl-dev zlib1g-dev pkg-config snmpd snmp prometheus
  python3-pip python3-venv curl postgresql influxdb victoria-metrics openssl openssh-server openssh-client systemd
  lintian debootstrap buildah dpkg-dev collectd-core)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  # No system service is started by the install (the system sshd would listen on every address): the lab starts its
  # own servers on loopback. A policy-rc.d already present is left alone.
  POLICY=/usr/sbin/policy-rc.d
  ADDED_POLICY=""
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY" && ADDED_POLICY=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$ADDED_POLICY" ]; then $SUDO rm -f "$POLICY"; fi
fi
# Debian enables the system snmpd, prometheus, postgresql, influxdb and victoria-metrics services on install; the lab
# runs its own on loopback ports (scripts/lab.sh, scripts/pg.sh, scripts/influx.sh).
if python3 -c "import snmpsim, pysmi" 2>/dev/null; then :; else
  echo "installing: snmpsim pysmi (pip)"
  python3 -m pip install -q snmpsim pysmi 2>/dev/null || python3 -m pip install -q --break-system-packages snmpsim pysmi
fi
# The reference TextFSM, the ntc-templates collection and fakenos (simulated device CLIs, whose outputs the TextFSM
# differential test and make bench-textfsm parse), in a venv of their own.
VENV=.build/textfsm-venv
# netmiko is the peer of make bench-ssh (what users script today).
if ! "$VENV/bin/python" -c "import textfsm, ntc_templates, fakenos, yaml, netmiko" 2>/dev/null; then
  echo "installing: textfsm ntc-templates fakenos netmiko (pip, $VENV)"
  mkdir -p .build
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q textfsm ntc-templates fakenos pyyaml netmiko
fi
command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6 toolchain required)"; exit 1; }
# deploy/ checks: kubernetes-validate (the Kubernetes schemas, offline) and ansible-core, in a venv of their own.
DEPLOY_VENV=.build/deploy-venv
if ! "$DEPLOY_VENV/bin/python" -c "import kubernetes_validate, ansible, yaml" 2>/dev/null; then
  echo "installing: kubernetes-validate ansible-core (pip, $DEPLOY_VENV)"
  mkdir -p .build
  [ -x "$DEPLOY_VENV/bin/python" ] || python3 -m venv "$DEPLOY_VENV"
  "$DEPLOY_VENV/bin/pip" install -q kubernetes-validate ansible-core pyyaml
fi
