#!/usr/bin/env bash
# Benchmark the project store against GDAL on the same files, in the same run:
#   1. import 1M building footprints from FlatGeobuf into a new project file
#      (gridmap init + import) vs ogr2ogr writing the same GeoPackage layer;
#   2. open that project and build the in-memory indexes (gridmap validate PROJECT, which
#      reads every grid and building, indexes them and validates; reported whole).
#
#   bench/run_store.sh [DATA_DIR]      (default target/bench-data; uses grids.fgb/buildings.fgb
#                                       from `gridmap synth`, made if missing)
# Prints a markdown table: median wall time of RUNS runs (default 3), peak RSS, ratio.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-$root/target/bench-data}"
RUNS="${RUNS:-3}"
GRIDMAP="${GRIDMAP:-$root/target/release/gridmap}"
mkdir -p "$DIR"
[[ -x "$GRIDMAP" ]] || { echo "build first: cargo build --release -p gridmap-cli" >&2; exit 2; }
command -v ogr2ogr >/dev/null || { echo "ogr2ogr missing: scripts/setup.sh installs gdal-bin" >&2; exit 2; }
if [[ ! -s "$DIR/buildings.fgb" ]]; then
  "$GRIDMAP" synth --buildings 1000000 --grids 10000 --seed 1 --out-dir "$DIR"
fi
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# run NAME CMD...: times CMD RUNS times; prints "median_seconds max_rss_mib"
run() {
  local name=$1; shift
  local walls=() rss=0
  for ((i = 1; i <= RUNS; i++)); do
    [[ "$name" == gridmap_import ]] && { rm -f "$DIR"/store.gpkg*; "$GRIDMAP" init "$DIR/store.gpkg" --town bench --code 1 >/dev/null; }
    [[ "$name" == ogr2ogr ]] && rm -f "$DIR"/ogr.gpkg*
    local t0 t1 r
    t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$DIR/rss.txt" "$@" >/dev/null 2>"$DIR/$name.err" || [[ $? -le 1 ]]
    t1=$(date +%s%N)
    walls+=("$(echo "($t1 - $t0) / 1000000000" | bc -l)")
    r=$(tail -1 "$DIR/rss.txt"); (( r > rss )) && rss=$r
  done
  printf '%s %s\n' "$(printf '%s\n' "${walls[@]}" | median)" "$((rss / 1024))"
}
read -r imp imp_rss < <(run gridmap_import "$GRIDMAP" import "$DIR/store.gpkg" --layer buildings "$DIR/buildings.fgb")
read -r ogr ogr_rss < <(run ogr2ogr ogr2ogr -f GPKG "$DIR/ogr.gpkg" "$DIR/buildings.fgb" -nln buildings)
"$GRIDMAP" import "$DIR/store.gpkg" --layer grids "$DIR/grids.fgb" >/dev/null
read -r open open_rss < <(run gridmap_open "$GRIDMAP" validate "$DIR/store.gpkg")
printf '\n| job | gridmap s | ogr2ogr s | ratio (ogr2ogr/gridmap) | gridmap RSS MiB | ogr2ogr RSS MiB |\n| --- | ---: | ---: | ---: | ---: | ---: |\n'
printf '| import 1M buildings (FlatGeobuf → GeoPackage) | %.2f | %.2f | %.2f | %s | %s |\n' "$imp" "$ogr" "$(echo "$ogr / $imp" | bc -l)" "$imp_rss" "$ogr_rss"
printf '| open project, index and validate 1M buildings / 10k grids | %.2f | n/a | n/a | %s | n/a |\n' "$open" "$open_rss"
