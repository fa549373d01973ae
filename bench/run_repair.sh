#!/usr/bin/env bash
# Benchmark `gridmap repair` against a Shapely baseline (issue #24).
#
#   bench/run_repair.sh [DATA_DIR]          (default: target/bench-data)
#
# Needs target/release/gridmap (build it first: cargo build --release -p gridmap-cli).
# DATA_DIR/{grids,buildings,boundary}.fgb are generated with
# `gridmap synth --buildings 1000000 --grids 10000 --seed 1` when missing (as run_assign.sh).
# 5% of the shared edges are then jittered (each vertex of them moved in one of its grids
# by up to 0.8 m) into DATA_DIR/grids-jittered.fgb, and both tools repair that:
#   gridmap repair --snap-m 1 --max-gap-m2 100 (snap, overlaps, gaps, clip, report);
#   bench/repair_baseline.py: Shapely 2.1 make_valid + snap + overlay-based cleaning
#   (PostGIS here is 3.3, without ST_CoverageClean).
# Both count the buildings whose grid (point on surface) differs from the clean town's.
#
# Environment knobs:
#   GRIDMAP=path      gridmap binary (default target/release/gridmap)
#   PY=path           Python with shapely>=2.1, pyogrio (default target/py-bench/bin/python,
#                     made with `python3 -m venv` + pip when missing)
#   BUILDINGS, GRIDS  town size (default 1000000, 10000)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"
DIR="${1:-$root/target/bench-data}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
GRIDMAP="${GRIDMAP:-target/release/gridmap}"
PY="${PY:-target/py-bench/bin/python}"
BUILDINGS="${BUILDINGS:-1000000}"
GRIDS="${GRIDS:-10000}"
die() { echo "run_repair.sh: $*" >&2; exit 2; }

[[ -x "$GRIDMAP" ]] || die "$GRIDMAP not found: run 'cargo build --release -p gridmap-cli' first"
if ! "$PY" -c 'import shapely, pyogrio; assert shapely.geos_version >= (3, 12)' 2>/dev/null; then
  echo "making the Python baseline's venv (target/py-bench) ..." >&2
  python3 -m venv target/py-bench
  target/py-bench/bin/pip install -q "shapely>=2.1" geopandas pyogrio >&2
  PY=target/py-bench/bin/python
fi

if [[ ! -s "$DIR/grids.fgb" || ! -s "$DIR/buildings.fgb" || ! -s "$DIR/boundary.fgb" ]]; then
  echo "generating data in $DIR ..." >&2
  "$GRIDMAP" synth --buildings "$BUILDINGS" --grids "$GRIDS" --seed 1 --out-dir "$DIR"
fi
J="$DIR/grids-jittered.fgb"
if [[ ! -s "$J" ]]; then
  echo "jittering 5% of the shared edges ..." >&2
  "$PY" bench/repair_baseline.py jitter "$DIR/grids.fgb" "$J" --share 0.05 --max-m 0.8 --seed 1
fi

ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

echo "gridmap repair ..." >&2
t0=$(ns)
set +e
"$GRIDMAP" -v repair --grids "$J" --boundary "$DIR/boundary.fgb" --buildings "$DIR/buildings.fgb" \
  --snap-m 1 --max-gap-m2 100 --out "$DIR/repaired.geojson" --report "$DIR/repair.json" \
  >"$DIR/repair.out" 2>"$DIR/repair.err"
rc=$?
set -e
t1=$(ns)
[[ $rc -le 1 ]] || { cat "$DIR/repair.err" >&2; die "gridmap repair exited $rc"; }
gm_wall=$(secs "$t0" "$t1")
# The repair itself: the phases after reading (their times, from -v).
gm_repair=$(awk -F': ' '/^(reading|writing)/ { next } / s$/ { sub(/ s$/, "", $2); t += $2 } END { printf "%.2f", t }' "$DIR/repair.err")
# Buildings that change grid against the clean town, counted the same way for both tools
# (GEOS: point on surface within the grid, by code).
gm_changed=$("$PY" bench/repair_baseline.py count "$DIR/grids.fgb" "$DIR/repaired.geojson" \
  "$DIR/buildings.fgb")

echo "shapely baseline ..." >&2
t0=$(ns)
"$PY" bench/repair_baseline.py repair "$J" "$DIR/boundary.fgb" "$DIR/buildings.fgb" \
  "$DIR/grids.fgb" "$DIR/shapely.json" --snap-m 1 --max-gap-m2 100 >"$DIR/shapely.out"
t1=$(ns)
py_wall=$(secs "$t0" "$t1")
py_repair=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$DIR/shapely.json")
py_changed=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["buildings_changed"])' "$DIR/shapely.json")
py_left=$("$PY" -c 'import json,sys; r = json.load(open(sys.argv[1])); print(r["overlaps_left_m2"], "/", r["gaps_left_m2"])' "$DIR/shapely.json")
gm_left=$("$PY" -c 'import json,sys; s = json.load(open(sys.argv[1]))["summary"]; print(s["overlaps_after"], "overlaps,", s["gaps_after"], "gaps")' "$DIR/repair.json")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
{
  echo
  echo "Repair of the ${GRIDS}-grid synth town (${BUILDINGS} buildings, seed 1), 5% of shared edges"
  echo "jittered by up to 0.8 m; $(nproc) cores. Buildings that change grid: against the clean town."
  echo
  echo "| | gridmap | shapely baseline | ratio (shapely/gridmap) |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| repair, s | $gm_repair | $py_repair | $(ratio "$py_repair" "$gm_repair") |"
  echo "| whole command (read, repair, write), s | $gm_wall | $py_wall | $(ratio "$py_wall" "$gm_wall") |"
  echo "| buildings that change grid | $gm_changed | $py_changed | |"
  echo "| left: gridmap overlaps/gaps; baseline overlap m² / gap m² | $gm_left | $py_left | |"
  echo
  grep -E '^  (changed|before|[0-9])' "$DIR/repair.out" || true
} | tee "$DIR/repair-bench.md"
