#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster on loopback, for the lab (`make run`), the tests and the benchmark.
#   pg.sh start DIR [PORT]   initdb on first use, start on 127.0.0.1:PORT (a free port if none; the last one on a
#                            restart); writes DIR/pg.env (PG_PORT, PG_SOCKET, PG_CONNINFO) and DIR/password
#   pg.sh stop DIR [MODE]    pg_ctl stop -m MODE (fast by default; `immediate` is a crash)
#   pg.sh psql DIR ARGS...   psql as the superuser over the Unix socket
# The cluster has a superuser `postgres` (trust, Unix socket only) and a role `netpoller` (SCRAM password over TCP)
# owning the database `netpoller`. PostgreSQL refuses to run as root: as root every server command runs as the
# `postgres` user (runuser), which then owns DIR/data, DIR/sock and DIR/log. Extra server options: PG_EXTRA_OPTS.
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|psql DIR}
dir=$(realpath -m "${2:?usage: pg.sh start|stop|psql DIR}")
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

psql_su() {
  # shellcheck disable=SC1091
  source "$dir/pg.env"
  "$bin/psql" -X -q -h "$PG_SOCKET" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 "$@"
}

start() {
  mkdir -p "$dir/data" "$dir/sock" "$dir/log"
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir/data" "$dir/sock" "$dir/log"; fi
  chmod 700 "$dir/data"
  local fresh=0
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    fresh=1
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust \
      --auth-host=scram-sha-256 >"$dir/log/initdb.log" 2>&1 || { cat "$dir/log/initdb.log" >&2; exit 1; }
  fi
  local port=${3:-}
  if [ -z "$port" ] && [ -f "$dir/pg.env" ]; then port=$(sed -n 's/^PG_PORT=//p' "$dir/pg.env"); fi
  [ -n "$port" ] || port=$(free_port)
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log/postgres.log" -w -t 60 \
    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 ${PG_EXTRA_OPTS:-}" start >/dev/null \
    || { tail -20 "$dir/log/postgres.log" >&2; exit 1; }
  if [ ! -f "$dir/password" ]; then
    (umask 077; python3 -c 'import secrets; print("lab-" + secrets.token_hex(12))' > "$dir/password")
  fi
  printf 'PG_PORT=%s\nPG_SOCKET=%s\nPG_CONNINFO="host=127.0.0.1 port=%s dbname=netpoller user=netpoller"\n' \
    "$port" "$dir/sock" "$port" > "$dir/pg.env"
  if [ "$fresh" = 1 ]; then
    psql_su -d postgres -c "CREATE ROLE netpoller LOGIN PASSWORD '$(cat "$dir/password")'" \
      -c "CREATE DATABASE netpoller OWNER netpoller"
  fi
  echo "$port"
}

stop() {
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w -t 60 stop >/dev/null 2>&1 || true
}

case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  psql) shift 2; psql_su "$@" ;;
  *) echo "usage: pg.sh start|stop|psql DIR" >&2; exit 2 ;;
esac
