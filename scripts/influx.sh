#!/usr/bin/env bash
# A throwaway InfluxDB 1.x server on loopback, for the lab (`make run`), the tests and the benchmark.
#   influx.sh start DIR [PORT]   config from `influxd config` with every listener on 127.0.0.1 and every directory
#                                under DIR; prints the HTTP port (a free one if none; the last one on a restart)
#   influx.sh stop DIR
# Extra config lines for the [http] section: INFLUX_HTTP_EXTRA.
set -euo pipefail
cmd=${1:?usage: influx.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: influx.sh start|stop DIR}")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {
  stop
  mkdir -p "$dir/meta" "$dir/data" "$dir/wal"
  local port=${3:-}
  if [ -z "$port" ] && [ -f "$dir/influx.env" ]; then port=$(sed -n 's/^INFLUX_PORT=//p' "$dir/influx.env"); fi
  [ -n "$port" ] || port=$(free_port)
  local rpc
  rpc=$(free_port)
  influxd config 2>/dev/null | python3 -c '
import re, sys
d, port, rpc, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
section = ""
out = []
for line in sys.stdin.read().splitlines():
    s = line.strip()
    if s.startswith("["):
        section = s
    if s.startswith("reporting-"):
        line = "reporting-disabled = true"
    elif s.startswith("bind-address") and section == "":
        line = f"bind-address = \"127.0.0.1:{rpc}\""
    elif s.startswith("bind-address") and section == "[http]":
        line = f"  bind-address = \"127.0.0.1:{port}\""
    elif s.startswith("bind-address"):
        line = "  bind-address = \"127.0.0.1:0\""
    elif s.startswith("dir =") and section == "[meta]":
        line = f"  dir = \"{d}/meta\""
    elif s.startswith("dir =") and section == "[data]":
        line = f"  dir = \"{d}/data\""
    elif s.startswith("wal-dir ="):
        line = f"  wal-dir = \"{d}/wal\""
    elif s.startswith("store-enabled") and section == "[monitor]":
        line = "  store-enabled = false"
    elif s.startswith("log-enabled") and section == "[http]":
        line = "  log-enabled = false"
    elif s.startswith("query-log-enabled"):
        line = "  query-log-enabled = false"
    extra_keys = {l.split("=")[0].strip() for l in extra.splitlines() if "=" in l}
    if section == "[http]" and s.split("=")[0].strip() in extra_keys:
        continue
    out.append(line)
    if s == "[http]" and extra:
        out.append(extra)
print("\n".join(out))
' "$dir" "$port" "$rpc" "${INFLUX_HTTP_EXTRA:-}" > "$dir/influxdb.conf"
  local scheme=http
  if [[ "${INFLUX_HTTP_EXTRA:-}" == *"https-enabled = true"* ]]; then scheme=https; fi
  # Its own session: a Ctrl-C at the terminal (make run) must not stop it before the agent has drained into it.
  setsid influxd run -config "$dir/influxdb.conf" > "$dir/influxd.log" 2>&1 &
  echo $! > "$dir/influxd.pid"
  for _ in $(seq 1 150); do
    if curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/ping" 2>/dev/null | grep -q 204; then
      printf 'INFLUX_PORT=%s\nINFLUX_URL=%s://127.0.0.1:%s\n' "$port" "$scheme" "$port" > "$dir/influx.env"
      echo "$port"
      return 0
    fi
    sleep 0.2
  done
  echo "influxd did not answer on 127.0.0.1:$port" >&2
  tail -20 "$dir/influxd.log" >&2
  return 1
}

stop() {
  [ -f "$dir/influxd.pid" ] || return 0
  local pid
  pid=$(cat "$dir/influxd.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/influxd.pid"
}

case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  *) echo "usage: influx.sh start|stop DIR" >&2; exit 2 ;;
esac
