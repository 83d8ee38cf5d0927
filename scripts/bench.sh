#!/usr/bin/env bash
# make bench: 64 devices x 48 interfaces served by snmpd instances, all inside a private network namespace so snmpd
# sees exactly 48 interfaces (lo + veth) and all traffic stays on that namespace's loopback.
# net-snmp 5.9.3's snmpd serves 22 ifTable and 18 ifXTable columns (no ifLinkUpDownTrapEnable), so one device is
# 3 + 48 x 40 = 1,923 varbinds per cycle.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=npbench
NS2=npbench-peer
INSTANCES=${INSTANCES:-4}
CYCLES=${CYCLES:-5}
BIN=${NP_BIN:-$(swift build -c release --show-bin-path)/netpoller-bench}
DIR=$(mktemp -d /tmp/netpoller-bench.XXXXXX)
chmod 755 "$DIR"
MODE=${MODE:-polling}
cleanup() {
  if [ -d "$DIR/influxdb" ]; then ip netns exec "$NS" bash scripts/influx.sh stop "$DIR/influxdb" 2>/dev/null || true; fi
  if [ "$MODE" = postgres ]; then
    bash scripts/pg.sh stop "$DIR/pg"
    cp "$DIR/pg/log/postgres.log" /tmp/netpoller-bench-postgres.log 2>/dev/null || true
  fi
  for f in "$DIR"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$NS2" 2>/dev/null || true
  rm -rf "$DIR" 2>/dev/null || true
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "make bench needs root for its network namespace (ip netns)"; exit 1; }
ip netns del "$NS" 2>/dev/null || true
ip netns del "$NS2" 2>/dev/null || true
ip netns add "$NS"
ip netns add "$NS2"
ip -n "$NS" link set lo up
# lo + 47 more: 23 veth pairs inside, plus one veth whose peer lives in the second namespace.
for i in $(seq 1 23); do ip -n "$NS" link add "bench${i}a" type veth peer name "bench${i}b"; done
ip -n "$NS" link add bench24a type veth peer name bench24b netns "$NS2"
count=$(ip -n "$NS" -o link show | wc -l)
echo "interfaces in $NS: $count"
ports=()
for i in $(seq 1 "$INSTANCES"); do
  port=$((30160 + i))
  mkdir -p "$DIR/snmpd$i"
  printf 'agentaddress udp:127.0.0.1:%s\nrocommunity public 127.0.0.1\n[snmp] serverRecvBuf 4194304\n' "$port" \
    > "$DIR/snmpd$i/snmpd.conf"
  # The SNMPv3 user of the v3 half (authPriv, SHA-256/AES-128).
  printf 'createUser bench SHA-256 bench-auth-pass AES bench-priv-pass\nrouser bench priv\n' >> "$DIR/snmpd$i/snmpd.conf"
  SNMP_PERSISTENT_DIR="$DIR/snmpd$i" ip netns exec "$NS" /usr/sbin/snmpd -C -c "$DIR/snmpd$i/snmpd.conf" -f -Lf \
    "$DIR/snmpd$i/log" &
  echo $! > "$DIR/snmpd$i.pid"
  ports+=("$port")
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 100); do
    ip netns exec "$NS" snmpget -v2c -c public -t 0.3 -r 0 "127.0.0.1:$port" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && break
    sleep 0.2
  done
done
rows=$(ip netns exec "$NS" snmpwalk -v2c -c public -Oqn "127.0.0.1:${ports[0]}" 1.3.6.1.2.1.2.2.1.1 | wc -l)
echo "snmpd ifTable rows: $rows"
if [ "$MODE" = postgres ]; then
  # make bench-postgres: the agent (inside the namespace) reaches PostgreSQL over its Unix socket, as psql does.
  # A large max_wal_size and explicit CHECKPOINTs before each timed phase: no phase pays for another's WAL.
  PG_EXTRA_OPTS="-c max_wal_size=16GB -c checkpoint_timeout=1h ${PG_EXTRA_OPTS:-}" bash scripts/pg.sh start "$DIR/pg" >/dev/null
  source "$DIR/pg/pg.env"
  conninfo="host=$PG_SOCKET port=$PG_PORT dbname=netpoller user=netpoller"
  ip netns exec "$NS" "$BIN" --mode postgres --pg-conninfo "$conninfo" --rows "${ROWS:-2000000}" \
    --ports "$(IFS=,; echo "${ports[*]}")" --devices 64 --in-flight 16 --max-repetitions 25 | tee "$DIR/agent.out"
  # psql \copy of the very rows the agent wrote (ledger run, public.samples) into the identical empty table.
  export_file="$DIR/rows.copy"
  psql_np() { /usr/lib/postgresql/15/bin/psql -X -q -h "$PG_SOCKET" -p "$PG_PORT" -U netpoller -d netpoller "$@"; }
  psql_np -c "\copy (SELECT series_id, time, value FROM public.samples) TO '$export_file'"
  chmod 644 "$export_file"
  rows=$(wc -l < "$export_file")
  bash scripts/pg.sh psql "$DIR/pg" -d netpoller -c CHECKPOINT
  start=$(date +%s.%N)
  psql_np -c "\copy psqlcopy.samples (series_id, time, value) FROM '$export_file'"
  end=$(date +%s.%N)
  python3 - "$rows" "$start" "$end" "$DIR/agent.out" <<'PY'
import re, sys
rows, start, end, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), open(sys.argv[4]).read()
psql = rows / (end - start)
print(f"psql \\copy: {rows} rows in {end - start:.2f} s")
print(f"RESULT psql \\copy rows/s: {psql:.0f}")
for mode in ("ledger", "staging"):
    m = re.search(rf"RESULT postgres {mode} rows/s: (\d+)", out)
    if m:
        print(f"RESULT agent ({mode}) / psql \\copy: {int(m.group(1)) / psql:.2f}x")
PY
  exit 0
fi
if [ "$MODE" = influx ]; then
  # make bench-influx: influxd runs inside the namespace too; the agent and curl reach it on that loopback.
  ip netns exec "$NS" bash scripts/influx.sh start "$DIR/influxdb" >/dev/null
  source "$DIR/influxdb/influx.env"
  common=(--mode influx --influx-url "$INFLUX_URL" --points "${POINTS:-1000000}" --bodies "$DIR/bodies"
    --ports "$(IFS=,; echo "${ports[*]}")" --devices 64 --in-flight 16 --max-repetitions 25)
  # curl: the same bodies, the same batch size, one keep-alive connection (--next), into a fresh database; its runs
  # alternate with the agent's, so neither side gets the emptier server. Prints wall and CPU seconds.
  curl_run() { # database -> seconds
    ip netns exec "$NS" curl -s -XPOST "$INFLUX_URL/query" --data-urlencode "q=CREATE DATABASE $1" >/dev/null
    local args=() f
    for f in "$DIR"/bodies/*.lp; do
      args+=(--next -s -o /dev/null -XPOST -H "Content-Type: text/plain" --data-binary "@$f"
        "$INFLUX_URL/write?db=$1&precision=ns")
    done
    local start end cpu
    start=$(date +%s.%N)
    cpu=$( { TIMEFORMAT='%U %S'; time ip netns exec "$NS" curl "${args[@]:1}"; } 2>&1 | tail -1)
    end=$(date +%s.%N)
    python3 -c "import sys; u, s = map(float, sys.argv[1].split()); print($end - $start, u + s)" "$cpu"
  }
  # Waits (up to 60 s) until influxd is idle — under 3% of a core over a second — so no timed run shares the
  # machine with the compactions and garbage collection that the previous run's data set off.
  quiet() {
    local pid waited=0 t0 t1
    pid=$(cat "$DIR/influxdb/influxd.pid")
    while [ "$waited" -lt 60 ]; do
      t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      sleep 1
      t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      waited=$((waited + 1))
      [ $((t1 - t0)) -le 3 ] && break
    done
    echo "influxd idle after ${waited} s" >&2
  }
  # ENCODE_ONLY=N: the encoder alone over the same batches, N times, then stop (NP_COLD=1: with the caches evicted
  # before each write, as in the pipeline; PROFILE=1: under perf, into /tmp/netpoller-encode.perf).
  if [ -n "${ENCODE_ONLY:-}" ]; then
    NP_ENCODE_ONLY=$ENCODE_ONLY ip netns exec "$NS" ${PROFILE:+perf record -F 5000 -o /tmp/netpoller-encode.perf} \
      "$BIN" "${common[@]}" --phases bodies | grep "encoding alone"
    exit 0
  fi
  ip netns exec "$NS" "$BIN" "${common[@]}" --phases bodies | grep -E "encoding alone|request bodies"
  points=$(cat "$DIR"/bodies/*.lp | wc -l)
  raw=$(cat "$DIR"/bodies/*.lp | wc -c)
  packed=$(for f in "$DIR"/bodies/*.lp; do gzip -1 -c "$f"; done | wc -c)
  echo "request bodies: $raw bytes; gzip -1 per body: $packed bytes ($((packed * 100 / raw))%)"
  # Drops a run's database once it is timed: influxd keeps a database's recent points (its WAL cache) and series
  # index in memory, so without this each run would face a server holding every run before it (and PAIRS=10 would
  # pile up ten million points). curl's rate still drifts over a full run (the host's load changes), which is why
  # runs alternate and each agent run is compared with its neighbours.
  drop() { # database
    ip netns exec "$NS" curl -s -XPOST "$INFLUX_URL/query" --data-urlencode "q=DROP DATABASE $1" >/dev/null
  }
  agent() { # phase, database suffix
    local -A names=([first]=bench_agent [gzip]=bench_agent_gzip [spool]=bench_agent_spool)
    NP_SKIP_BODIES=1 NP_DB_SUFFIX=$2 ip netns exec "$NS" "$BIN" "${common[@]}" --phases "$1"
    drop "${names[$1]}$2"
  }
  # PHASE_FIRST=1: the agent's first phase alone (PHASE=gzip or spool for another), REPEAT times (default 1), no curl.
  if [ -n "${PHASE_FIRST:-}" ]; then
    for i in $(seq "${REPEAT:-1}"); do
      quiet
      agent "${PHASE:-first}" "_$i" | grep -E "RESULT|by thread|sink thread|producer"
    done
    exit 0
  fi
  # PROFILE=1: record the agent's half with perf (one phase: PHASE=first (gzip off, the default), gzip or spool) into
  # /tmp/netpoller-bench-influx.perf.
  if [ -n "${PROFILE:-}" ]; then
    NP_SKIP_BODIES=1 ip netns exec "$NS" perf record ${PERF_EVENTS:--F ${PERF_FREQ:-2000}} -g ${PERF_DELAY:+-D $PERF_DELAY} -o /tmp/netpoller-bench-influx.perf \
      "$BIN" "${common[@]}" --phases "${PHASE:-first}" | tee "$DIR/agent.out"
    exit 0
  fi
  # PAIRS=N (default 3): curl, agent, curl, agent … curl, each on an idle server and into a fresh database; each
  # agent run is compared with the curl runs either side of it. Then the gzip and spool phases, once each.
  : > "$DIR/agent.out"
  : > "$DIR/curl.out"
  for i in $(seq "${PAIRS:-3}"); do
    quiet
    curl_run "bench_curl_$i" >> "$DIR/curl.out"
    drop "bench_curl_$i"
    quiet
    agent first "_$i" | tee -a "$DIR/agent.out"
  done
  quiet
  curl_run "bench_curl_$(( ${PAIRS:-3} + 1 ))" >> "$DIR/curl.out"
  drop "bench_curl_$(( ${PAIRS:-3} + 1 ))"
  for phase in gzip spool; do
    quiet
    agent "$phase" "" | tee -a "$DIR/agent.out"
  done
  python3 - "$points" "$DIR/curl.out" "$DIR/agent.out" <<'PY'
import re, statistics, sys
points = int(sys.argv[1])
curls = [tuple(map(float, line.split())) for line in open(sys.argv[2]) if line.strip()]
out = open(sys.argv[3]).read()
rates = [points / wall for wall, _ in curls]
print("curl --next, points/s in order: " + ", ".join(f"{r:.0f}" for r in rates)
      + f"; CPU-s per million points: {statistics.mean(c for _, c in curls) / points * 1e6:.3f}")
curl = statistics.mean(rates)
print(f"RESULT curl points/s: {curl:.0f}")
first = re.findall(r"RESULT influx agent \(gzip off, spool off\) points/s: (\d+); agent CPU-s per million points: "
                   r"([0-9.]+)", out)
ratios = [int(rate) / statistics.mean(rates[i:i + 2]) for i, (rate, _) in enumerate(first)]
cpus = [float(cpu) for _, cpu in first]
print("agent (gzip off) / the curl runs either side, in order: " + ", ".join(f"{r:.2f}x" for r in ratios)
      + "; agent CPU-s per million points: " + ", ".join(f"{c:.3f}" for c in cpus))
print(f"RESULT agent (gzip off, spool off) / curl: {statistics.median(ratios):.2f}x (median of {len(ratios)}); "
      f"CPU-s per million points: {statistics.median(cpus):.3f} (median)")
for label, rate in re.findall(r"RESULT influx agent \((gzip on, spool off|gzip off, spool on)\) points/s: (\d+)", out):
    print(f"RESULT agent ({label}) / curl: {int(rate) / curl:.2f}x")
PY
  ip netns exec "$NS" bash scripts/influx.sh stop "$DIR/influxdb"
  exit 0
fi
# v2c, then SNMPv3 authPriv (SHA-256/AES-128) on the same fleet in the same process: learning on (the agent's
# default; LEARN=0 for the configured max-repetitions, MAXREP, default 25). PROFILE=1 records with perf.
ip netns exec "$NS" ${PROFILE:+perf record -F 2000 -g -o /tmp/netpoller-bench.perf} "$BIN" \
  --ports "$(IFS=,; echo "${ports[*]}")" --devices 64 --in-flight 16 --max-repetitions "${MAXREP:-25}" \
  --cycles "$CYCLES" --learn "${LEARN:-1}" --v3-user bench --v3-auth bench-auth-pass --v3-priv bench-priv-pass
