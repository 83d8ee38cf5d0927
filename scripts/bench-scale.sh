#!/usr/bin/env bash
# make bench-scale: N light devices (system + if-mib, one interface) on N loopback addresses inside a private network
# namespace, answered by a few snmpd instances (one port each); the agent as a whole (`netpoller run`, a file output)
# at N = 1,000, 10,000 and 50,000, and collectd's snmp plugin on the same devices, OIDs, concurrency and interval at
# 1,000 and 10,000, in the same run. The figures: scripts/bench-scale.py.
#   SIZES="1000 10000 50000"  COLLECTD_SIZES="1000 10000"  INTERVAL=60  MEASURE=2 (intervals measured after the first)
#   WINDOW=500ms (the agent's poll_start_window; default: its own default)
# MODE=heavy (make bench-heavy): make bench's fleet, 64 devices x 48 interfaces, at INTERVAL=5, max_in_flight 16.
# PROFILE=file: perf record of the agent over the measured intervals (PROFILE_EVENTS=sched:sched_wakeup: those events
# instead of cycles). KEEP=1: leave the work folder (logs, configs).
set -euo pipefail
cd "$(dirname "$0")/.."
NS=npscale
BIN=${NP_BIN:-$(swift build -c release --show-bin-path)/netpoller}
[ "$(id -u)" = 0 ] || { echo "make bench-scale needs root for its network namespace (ip netns)"; exit 1; }
command -v collectd >/dev/null || [ -x /usr/sbin/collectd ] || {
  echo "collectd-core is not installed (make deps installs it)"; exit 1; }
DIR=$(mktemp -d /tmp/netpoller-scale.XXXXXX)
chmod 755 "$DIR"
cleanup() {
  for f in "$DIR"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$NS-peer" 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$DIR" 2>/dev/null || true; else echo "kept $DIR"; fi
}
trap cleanup EXIT
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
MODE=${MODE:-light}
if [ "$MODE" = heavy ]; then
  # make bench's fleet: lo + 47 more interfaces (23 veth pairs inside, one veth whose peer is in a second namespace),
  # so every snmpd serves 48 interfaces; 64 devices.
  ip netns del "$NS-peer" 2>/dev/null || true
  ip netns add "$NS-peer"
  for i in $(seq 1 23); do ip -n "$NS" link add "scale${i}a" type veth peer name "scale${i}b"; done
  ip -n "$NS" link add scale24a type veth peer name scale24b netns "$NS-peer"
fi
# One session (one socket) per device on both sides: 50,000 devices need more descriptors than the usual 20,000.
ulimit -Hn 262144 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
INSTANCES=${INSTANCES:-4}
for i in $(seq 1 "$INSTANCES"); do
  port=$((30200 + i))
  mkdir -p "$DIR/snmpd$i"
  # Listening on every address of the namespace's loopback: each device is its own 127.16.x.y address.
  printf 'agentaddress udp:0.0.0.0:%s\nrocommunity public 127.0.0.0/8\n[snmp] serverRecvBuf 8388608\n' "$port" \
    > "$DIR/snmpd$i/snmpd.conf"
  SNMP_PERSISTENT_DIR="$DIR/snmpd$i" ip netns exec "$NS" /usr/sbin/snmpd -C -c "$DIR/snmpd$i/snmpd.conf" -f -Lf \
    "$DIR/snmpd$i/log" &
  echo $! > "$DIR/snmpd$i.pid"
done
if [ "$MODE" = heavy ]; then
  # make bench-heavy: make bench's 64 devices x 48 interfaces, the agent as a whole against collectd.
  ip netns exec "$NS" python3 scripts/bench-scale.py --bin "$BIN" --dir "$DIR" --instances "$INSTANCES" \
    --sizes 64 --collectd-sizes 64 --interval "${INTERVAL:-5}" --measure "${MEASURE:-6}" --in-flight 16
else
  ip netns exec "$NS" python3 scripts/bench-scale.py --bin "$BIN" --dir "$DIR" --instances "$INSTANCES" \
    --sizes "${SIZES:-1000 10000 50000}" --collectd-sizes "${COLLECTD_SIZES-1000 10000}" \
    --interval "${INTERVAL:-60}" --measure "${MEASURE:-2}"
fi
