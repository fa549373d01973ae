#!/usr/bin/env bash
# Vector tiles: gridmap serve (uncached, then cached under load) against PostGIS ST_AsMVT on the
# same 1M synthetic buildings, same tiles, same run. Needs postgresql-15-postgis-3, wrk, python3
# with psycopg2-binary (installed here if missing), and target/release/gridmap.
#   bench/run_tiles.sh [DATA_DIR]     (default target/bench-data, from bench/run_assign.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-$root/target/bench-data}"
GRIDMAP="${GRIDMAP:-$root/target/release/gridmap}"
PORT="${PORT:-18080}" PGPORT="${PGPORT:-15432}"
command -v wrk >/dev/null && [ -x /usr/lib/postgresql/15/bin/pg_ctl ] || {
  apt-get install -y -qq --no-install-recommends postgresql-15-postgis-3 wrk >/dev/null; }
python3 -c 'import psycopg2' 2>/dev/null || pip install -q psycopg2-binary
[[ -s "$DIR/buildings.fgb" ]] || "$GRIDMAP" synth --buildings 1000000 --grids 10000 --seed 1 --out-dir "$DIR"

# The project.
P="$DIR/tiles.gpkg"
if [[ ! -f "$P" ]]; then
  "$GRIDMAP" init "$P" --town bench --code T >/dev/null
  "$GRIDMAP" import "$P" --layer grids "$DIR/grids.fgb" >/dev/null
  "$GRIDMAP" import "$P" --layer buildings "$DIR/buildings.fgb" >/dev/null
fi
# (Again on an older project: `gridmap user add` replaces the password.)
echo quiet-harbour-2026 | "$GRIDMAP" user add "$P" --username bench --role admin --scope T --password-stdin >/dev/null
"$GRIDMAP" serve "$P" --bind "127.0.0.1:$PORT" >/dev/null 2>&1 &
server=$!
# PostGIS.
PG=/tmp/gridmap-bench-pg
if [[ ! -d "$PG" ]]; then
  mkdir -p "$PG" && chown postgres "$PG"
  su postgres -c "/usr/lib/postgresql/15/bin/initdb -D $PG/data -A trust" >/dev/null
fi
su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D $PG/data -o '-p $PGPORT -k /tmp -c shared_buffers=1GB' -l $PG/log -w start" >/dev/null
trap 'kill $server 2>/dev/null; su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D $PG/data -m fast stop" >/dev/null' EXIT
if ! psql -h /tmp -p "$PGPORT" -U postgres -d bench -c 'select 1 from buildings limit 1' >/dev/null 2>&1; then
  createdb -h /tmp -p "$PGPORT" -U postgres bench
  psql -q -h /tmp -p "$PGPORT" -U postgres -d bench -c 'create extension postgis'
  ogr2ogr -f PostgreSQL "PG:host=/tmp port=$PGPORT dbname=bench user=postgres" "$DIR/buildings.fgb" \
    -nln buildings -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=NONE
  psql -q -h /tmp -p "$PGPORT" -U postgres -d bench -c \
    "alter table buildings add column g3857 geometry; update buildings set g3857 = st_transform(geom, 3857);
     create index on buildings using gist (g3857);"
  psql -q -h /tmp -p "$PGPORT" -U postgres -d bench -c "vacuum analyze buildings"
fi
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done
python3 "$root/bench/tiles_compare.py" --port "$PORT" --pgport "$PGPORT" --buildings "$DIR/buildings.fgb"
