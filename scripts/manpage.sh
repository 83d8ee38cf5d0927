#!/usr/bin/env bash
# Prints netpoller(1) in roff, generated from the CLI's own --help of every verb (make deb installs it gzipped).
set -euo pipefail
BIN=${1:?usage: manpage.sh NETPOLLER_BINARY}
VERSION=$("$BIN" version | awk '{print $2}')
DATE=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%d)
esc() { sed -e 's/\\/\\e/g' -e "s/^\\./\\\\\\&./" -e "s/^'/\\\\\\&'/" -e 's/^-/\\-/'; }
cat <<ROFF
.TH NETPOLLER 1 "$DATE" "netpoller $VERSION" "User Commands"
.SH NAME
netpoller \\- polls network devices over SNMP and SSH, discovers them, and serves their metrics
.SH SYNOPSIS
.B netpoller
.RI [ verb ]
.RI [ options ]
.SH DESCRIPTION
netpoller is a headless agent: it polls devices over SNMP (v1, v2c, v3) and SSH (CLI commands parsed with TextFSM,
regular expressions or JSON), queues the samples, writes them to PostgreSQL, InfluxDB, files or standard output with
a disk spool per output, and serves Prometheus metrics, /health, /ready and /status on a local port.
The verbs and their options follow, as each prints them with \\fB\\-\\-help\\fR.
.SH COMMANDS
.SS netpoller
.nf
ROFF
"$BIN" --help | esc
echo ".fi"
for verb in run check once discover parse version; do
  echo ".SS netpoller $verb"
  echo ".nf"
  "$BIN" "$verb" --help | esc
  echo ".fi"
done
cat <<'ROFF'
.SH FILES
.TP
.I /etc/netpoller/agent.conf
The configuration (TOML); see /usr/share/doc/netpoller/configuration.md.
.TP
.I /etc/netpoller/conf.d/*.conf
More configuration, read in name order after agent.conf (devices, discovered.conf).
.TP
.I /var/lib/netpoller
State: the spools of the outputs, learned request sizes, SNMPv3 engine times, the discovery inventory.
.SH SIGNALS
SIGHUP reloads the configuration without dropping buffered data; SIGTERM and SIGINT drain within shutdown_timeout.
.SH EXIT STATUS
0 on success; 78 on a configuration error (every problem is printed with its file, line and key); 69 when the HTTP
port or a required output is unavailable at start; 73 when the state directory is unusable.
.SH SEE ALSO
.BR systemctl (1),
/usr/share/doc/netpoller/
ROFF
