#!/usr/bin/env bash
# A city in one PostgreSQL database: TOWNS towns of `gridmap synth` (default 10 × 100,000
# buildings in 1,000 grids), imported by gridmap into one database, against `ogr2ogr -f
# PostgreSQL` of the same files in the same run; then one town served from the database and
# from a GeoPackage, each under the live-server load generator (crates/server/examples/loadgen.rs):
# server start, visits/s, p50/p99 per kind.
#
#   bench/run_pg.sh [DATA_DIR] [SECONDS]        (default target/bench-pg, 30)
#   TOWNS=3 BUILDINGS=20000 GRIDS=200 bench/run_pg.sh     (smaller)
#   GRIDMAP_PG=postgres://user@host/db bench/run_pg.sh    (an existing database; else a
#                                                          throw-away cluster is started)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-$root/target/bench-pg}"
SECONDS_RUN="${2:-30}"
TOWNS="${TOWNS:-10}"
BUILDINGS="${BUILDINGS:-100000}"
GRIDS="${GRIDS:-1000}"
GRIDMAP="${GRIDMAP:-$root/target/release/gridmap}"
PORT="${PORT:-18091}"
PASSWORD=quiet-harbour-2026
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
(cd "$root" && cargo build --release -q -p gridmap-cli)
(cd "$root" && cargo build --release -q -p gridmap-server --example loadgen)
LOADGEN="$root/target/release/examples/loadgen"
command -v ogr2ogr >/dev/null || { echo "run_pg.sh: ogr2ogr (gdal-bin) is needed" >&2; exit 2; }
command -v sqlite3 >/dev/null || apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null
mkdir -p "$DIR"

# --- the database -------------------------------------------------------------------------
if [[ -n "${GRIDMAP_PG:-}" ]]; then
  URL="$GRIDMAP_PG"
else
  URL=$("$root/scripts/pg-test-cluster.sh" start "$DIR/cluster")
  trap '"$root/scripts/pg-test-cluster.sh" stop "$DIR/cluster" >/dev/null 2>&1 || true' EXIT
fi
# The same database as a GDAL/libpq connection string (no password: PGPASSWORD or ~/.pgpass).
PGCONN=$(python3 - "$URL" <<'PY'
import sys, urllib.parse as u
p = u.urlparse(sys.argv[1])
parts = [f"host={p.hostname or 'localhost'}", f"port={p.port or 5432}", f"dbname={p.path.lstrip('/') or 'postgres'}"]
if p.username: parts.append(f"user={p.username}")
print(" ".join(parts))
PY
)

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }

# --- data: one synth town per seed --------------------------------------------------------
for i in $(seq 1 "$TOWNS"); do
  d="$DIR/town$i"
  [[ -s "$d/buildings.fgb" ]] || "$GRIDMAP" synth --buildings "$BUILDINGS" --grids "$GRIDS" \
    --seed "$i" --out-dir "$d" >/dev/null
done

# --- import: gridmap into one database (every town keyed by its code) ---------------------
for i in $(seq 1 "$TOWNS"); do
  # A re-run starts from an empty town: drop it if an earlier run left it.
  psql "$PGCONN" -qc "DELETE FROM town WHERE town = 'B$i'" >/dev/null 2>&1 || true
done
t0=$(now)
for i in $(seq 1 "$TOWNS"); do
  d="$DIR/town$i"
  "$GRIDMAP" init "$URL" --town "bench $i" --code "B$i" >/dev/null
  for layer in boundary grids buildings; do
    "$GRIDMAP" import "$URL" --town "B$i" --layer "$layer" "$d/$layer.fgb" >/dev/null
  done
done
t1=$(now)
gm_import=$(secs "$t0" "$t1")

# --- import: ogr2ogr of the same files (a table per town and layer, GiST index, COPY) ------
t0=$(now)
for i in $(seq 1 "$TOWNS"); do
  d="$DIR/town$i"
  for layer in boundary grids buildings; do
    ogr2ogr -f PostgreSQL "PG:$PGCONN" "$d/$layer.fgb" -nln "ogr_${layer}_$i" -overwrite \
      -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST -nlt PROMOTE_TO_MULTI >/dev/null
  done
done
t1=$(now)
ogr_import=$(secs "$t0" "$t1")
python3 -c "print(f'import of {$TOWNS} towns × {$BUILDINGS:,} buildings: gridmap {$gm_import} s, ogr2ogr {$ogr_import} s (ratio {$ogr_import / $gm_import:.2f})')"

# --- the same first town as a GeoPackage, to compare the served stores ---------------------
G="$DIR/town1.gpkg"
rm -f "$G" "$G-wal" "$G-shm"
"$GRIDMAP" init "$G" --town "bench 1" --code B1 >/dev/null
for layer in boundary grids buildings; do
  "$GRIDMAP" import "$G" --layer "$layer" "$DIR/town1/$layer.fgb" >/dev/null
done
echo "$PASSWORD" | "$GRIDMAP" user add "$G" --username bench --role admin --scope B1 --password-stdin >/dev/null
echo "$PASSWORD" | "$GRIDMAP" user add "$URL" --town B1 --username bench --role admin --scope B1 --password-stdin >/dev/null
sqlite3 "$G" "SELECT b.id, (r.minx + r.maxx) / 2, (r.miny + r.maxy) / 2 FROM buildings b
  JOIN rtree_buildings_geom r ON r.id = b.fid ORDER BY random() LIMIT 50000" | tr '|' ' ' > "$DIR/ids.txt"
sqlite3 "$G" "SELECT code FROM grids ORDER BY random() LIMIT 500" > "$DIR/grids.txt"
bbox=$(sqlite3 "$G" "SELECT min_x || ',' || min_y || ',' || max_x || ',' || max_y FROM gpkg_contents WHERE table_name = 'buildings'")

# run NAME PROJECT [ARGS...]: serves PROJECT, prints the start time, runs the load.
run() {
  local name="$1" project="$2"; shift 2
  local start ready server token
  start=$(now)
  "$GRIDMAP" serve "$project" "$@" --bind "127.0.0.1:$PORT" >/dev/null 2>"$DIR/$name-server.log" &
  server=$!
  until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
    kill -0 $server 2>/dev/null || { cat "$DIR/$name-server.log"; exit 1; }
    sleep 0.05
  done
  ready=$(now)
  echo "$name: server start $(secs "$start" "$ready") s"
  token=$(curl -sf "http://127.0.0.1:$PORT/api/login" -H 'content-type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  "$LOADGEN" --url "http://127.0.0.1:$PORT" --token "$token" --buildings "$DIR/ids.txt" \
    --grids "$DIR/grids.txt" --bbox "$bbox" --seconds "$SECONDS_RUN" \
    --visitors "${VISITORS:-32}" --editors "${EDITORS:-4}" --readers "${READERS:-28}" \
    | tee "$DIR/$name-result.txt" | grep -v '^{'
  kill $server; wait $server 2>/dev/null || true
}
run geopackage "$G"
run postgresql "$URL" --town B1
