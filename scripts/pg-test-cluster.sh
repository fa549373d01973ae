#!/usr/bin/env bash
# A throw-away PostgreSQL cluster with PostGIS for the tests of gridmap-pgstore.
#
#   scripts/pg-test-cluster.sh start DIR   initdb a cluster, start it on a free port of 127.0.0.1
#                                           (socket in the cluster's directory, trust auth,
#                                           fsync off), create database gridmap_test with
#                                           PostGIS, and print its URL:
#                                           postgres://gridmap@127.0.0.1:PORT/gridmap_test
#   scripts/pg-test-cluster.sh stop DIR    stop it and remove its files.
#
# The cluster lives in DIR/data. PostgreSQL refuses to run as root: as root, the cluster is
# initialised and run by the `postgres` user (or `nobody`) in a directory under /tmp that it
# owns (DIR may be somewhere that user cannot reach, e.g. under /root), and DIR/data is a
# symbolic link to it. The binaries are those of the newest PostgreSQL under
# /usr/lib/postgresql (PG_BIN overrides). Needs Debian's postgresql-15 and
# postgresql-15-postgis-3 (scripts/setup.sh installs them). Log: DIR/postgres.log.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$pg_bin/initdb" ] || { echo "pg-test-cluster: no PostgreSQL binaries (install postgresql-15, or set PG_BIN)" >&2; exit 1; }

# Runs a PostgreSQL server program as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
fi

case $cmd in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -e "$dir/data" ] || [ -L "$dir/data" ]; then
    echo "pg-test-cluster: $dir/data exists; stop that cluster first ($0 stop $dir)" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    data=$(mktemp -d /tmp/gridmap-pg.XXXXXX)
    chown "$owner" "$data"
    ln -s "$data" "$dir/data"
  else
    data=$dir/data
    mkdir -m 700 "$data"
  fi
  log=$dir/postgres.log
  : > "$log"
  [ "$(id -u)" -ne 0 ] || chown "$owner" "$log"
  as_owner "$pg_bin/initdb" -D "$data" -U gridmap --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # A free port: ask the kernel for one, and try again if another process takes it first.
  for attempt in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if as_owner "$pg_bin/pg_ctl" -D "$data" -l "$log" -w -t 30 -s \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start; then
      break
    fi
    port=
    tail -n 5 "$log" >&2
  done
  [ -n "$port" ] || { echo "pg-test-cluster: the server did not start (log: $log)" >&2; exit 1; }
  echo "$port" > "$dir/port"
  psql=("$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U gridmap)
  "${psql[@]}" -d postgres -c "CREATE DATABASE gridmap_test" >&2
  "${psql[@]}" -d gridmap_test -c "CREATE EXTENSION postgis" >&2 \
    || { echo "pg-test-cluster: no PostGIS (install postgresql-15-postgis-3)" >&2; exit 1; }
  echo "postgres://gridmap@127.0.0.1:$port/gridmap_test"
  ;;
stop)
  [ -e "$dir/data" ] || [ -L "$dir/data" ] || { echo "pg-test-cluster: no cluster in $dir" >&2; exit 0; }
  data=$(readlink -f "$dir/data")
  as_owner "$pg_bin/pg_ctl" -D "$data" -m immediate -w -t 30 -s stop || true
  rm -rf "$data"
  rm -f "$dir/data" "$dir/port"
  ;;
*) usage ;;
esac
