#!/usr/bin/env bash
# A campaign's load on a served district: `gridmap synth`'s 1,000,000 buildings in 10,000 grids,
# served by the release binary; for 60 s, 32 clients post visits, 4 save grids and 28 read
# heatmaps, vector tiles and statistics (crates/server/examples/loadgen.rs, in Rust). Prints
# visits/s, p50/p99 per kind, errors, server start time and peak RSS; then checks that
# `gridmap validate` of the file agrees with the server's /api/problems.
#   bench/run_live.sh [DATA_DIR] [SECONDS]     (default target/bench-data, 60)
#   VISITORS=0 EDITORS=1 READERS=0 bench/run_live.sh     (one kind of client alone)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-$root/target/bench-data}"
SECONDS_RUN="${2:-60}"
GRIDMAP="${GRIDMAP:-$root/target/release/gridmap}"
PORT="${PORT:-18090}"
PASSWORD=quiet-harbour-2026
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
(cd "$root" && cargo build --release -q -p gridmap-cli)
(cd "$root" && cargo build --release -q -p gridmap-server --example loadgen)
LOADGEN="$root/target/release/examples/loadgen"
command -v sqlite3 >/dev/null || apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null
mkdir -p "$DIR"
[[ -s "$DIR/buildings.fgb" ]] || "$GRIDMAP" synth --buildings 1000000 --grids 10000 --seed 1 --out-dir "$DIR"

# A pristine project (a town has its boundary), copied for each run so that visits do not pile
# up across runs.
BASE="$DIR/live-base-bounded.gpkg"
if [[ ! -f "$BASE" ]]; then
  "$GRIDMAP" init "$BASE" --town bench --code T >/dev/null
  "$GRIDMAP" import "$BASE" --layer boundary "$DIR/boundary.fgb" >/dev/null
  "$GRIDMAP" import "$BASE" --layer grids "$DIR/grids.fgb" >/dev/null
  "$GRIDMAP" import "$BASE" --layer buildings "$DIR/buildings.fgb" >/dev/null
  echo "$PASSWORD" | "$GRIDMAP" user add "$BASE" --username bench --role admin --scope T --password-stdin >/dev/null
fi
P="$DIR/live.gpkg"
rm -f "$P" "$P-wal" "$P-shm"
cp "$BASE" "$P"
sqlite3 "$P" "SELECT b.id, (r.minx + r.maxx) / 2, (r.miny + r.maxy) / 2 FROM buildings b
  JOIN rtree_buildings_geom r ON r.id = b.fid ORDER BY random() LIMIT 200000" | tr '|' ' ' > "$DIR/live-ids.txt"
sqlite3 "$P" "SELECT code FROM grids ORDER BY random() LIMIT 2000" > "$DIR/live-grids.txt"
bbox=$(sqlite3 "$P" "SELECT min_x || ',' || min_y || ',' || max_x || ',' || max_y FROM gpkg_contents WHERE table_name = 'buildings'")

start=$(date +%s.%N)
"$GRIDMAP" serve "$P" --bind "127.0.0.1:$PORT" >/dev/null 2>"$DIR/live-server.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
  kill -0 $server 2>/dev/null || { cat "$DIR/live-server.log"; exit 1; }
  sleep 0.05
done
ready=$(date +%s.%N)
python3 -c "print(f'server start: {$ready - $start:.1f} s (1,000,000 buildings, 10,000 grids)')"
token=$(curl -sf "http://127.0.0.1:$PORT/api/login" -H 'content-type: application/json' \
  -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$server/status)

# Peak RSS while the load runs.
peak_file="$DIR/live-peak-rss"
echo "$rss_idle" > "$peak_file"
( while kill -0 $server 2>/dev/null; do
    r=$(awk '/VmRSS/ {print $2}' /proc/$server/status 2>/dev/null || echo 0)
    [[ "$r" -gt "$(cat "$peak_file")" ]] && echo "$r" > "$peak_file"
    sleep 0.5
  done ) &
sampler=$!
"$LOADGEN" --url "http://127.0.0.1:$PORT" --token "$token" --buildings "$DIR/live-ids.txt" \
  --grids "$DIR/live-grids.txt" --bbox "$bbox" --seconds "$SECONDS_RUN" \
  --visitors "${VISITORS:-32}" --editors "${EDITORS:-4}" --readers "${READERS:-28}" | tee "$DIR/live-result.txt"
kill $sampler 2>/dev/null || true
printf 'server RSS: %d MiB idle, %d MiB peak\n' "$((rss_idle / 1024))" "$(( $(cat "$peak_file") / 1024 ))"

# The file and the server agree on the problems after the load.
served=$(curl -sf "http://127.0.0.1:$PORT/api/problems" -H "authorization: Bearer $token" \
  | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["counts"], sort_keys=True))')
kill $server; wait $server 2>/dev/null || true
set +e
"$GRIDMAP" validate "$P" --json "$DIR/live-report.json" >/dev/null 2>&1
set -e
file=$(python3 - "$DIR/live-report.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
names = {"invalid_grid": "invalid_grids", "overlap": "overlaps", "gap": "gaps",
         "outside_boundary": "outside_boundary", "in_no_grid": "in_no_grid",
         "in_many_grids": "in_many_grids", "straddling": "straddling",
         "address_not_in_building": "addresses_not_in_building",
         "address_grid_mismatch": "addresses_grid_mismatch"}
print(json.dumps({k: s[v] for k, v in names.items()}, sort_keys=True))
PY
)
if [[ "$served" == "$file" ]]; then
  echo "problems: the server and gridmap validate agree: $served"
else
  echo "problems DIFFER: server $served, file $file"; exit 1
fi
