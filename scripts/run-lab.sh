#!/usr/bin/env bash
# make run: start the lab under ./.lab, run the agent in the foreground on the lab config; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=.lab
bash scripts/lab.sh start "$LAB"
source "$LAB/lab.env"
cleanup() { bash scripts/lab.sh stop "$LAB"; }
trap cleanup EXIT
cat <<MSG

netpoller is starting on the lab config ($LAB/agent.conf). Where to look:
  device metrics   http://127.0.0.1:$HTTP_PORT/metrics/devices   (first data within ~10 s)
  one device       http://127.0.0.1:$HTTP_PORT/metrics/devices/sim-windows
  agent metrics    http://127.0.0.1:$HTTP_PORT/metrics
  status (JSON)    http://127.0.0.1:$HTTP_PORT/status
  health, ready    http://127.0.0.1:$HTTP_PORT/health  http://127.0.0.1:$HTTP_PORT/ready
  PostgreSQL       bash scripts/pg.sh psql $LAB/postgres -d netpoller -c 'SELECT * FROM device_status'
  InfluxDB         curl -G http://127.0.0.1:$INFLUX_PORT/query --data-urlencode db=netpoller --data-urlencode 'q=SHOW MEASUREMENTS'
  every sample     $LAB/out/samples.jsonl
  discovery        http://127.0.0.1:$HTTP_PORT/status (→ discovery), and SELECT * FROM inventory_devices in PostgreSQL
Ctrl-C stops the agent and the lab.

MSG
BIN=$(swift build -c release --show-bin-path)/netpoller
"$BIN" run --config "$LAB/agent.conf" &
agent=$!
trap 'kill -TERM $agent 2>/dev/null; wait $agent; cleanup' INT TERM
wait $agent
