#!/usr/bin/env bash
# Benchmark `gridmap assign` / `gridmap validate` against the GeoPandas baseline.
#
#   bench/run_assign.sh [DATA_DIR]          (default: target/bench-data)
#
# Needs target/release/gridmap (build it first: cargo build --release).
# DATA_DIR/grids.fgb and DATA_DIR/buildings.fgb are generated with
# `gridmap synth --buildings 1000000 --grids 10000 --seed 1` when missing.
#
# Environment knobs:
#   RUNS=3            timed runs per job; the median wall time is reported
#   GRIDMAP=path      gridmap binary (default target/release/gridmap)
#   PYTHON=python3    interpreter for the baseline
#   PY_THREADS=N      also time the baseline with --threads N (extra row)
#
# Output: per-run logs in DATA_DIR/logs/, the table in DATA_DIR/bench.md and on
# stdout.  Exit status: that of compare_assign.py (1 if grid agreement < 99.5%),
# or non-zero if a job failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

dir_arg="${1:-}"
if [[ -n "$dir_arg" ]]; then
  mkdir -p "$dir_arg"
  DIR="$(cd "$dir_arg" && pwd)"        # relative to the caller's cwd
else
  mkdir -p "$root/target/bench-data"
  DIR="$root/target/bench-data"
fi
cd "$root"

RUNS="${RUNS:-3}"
GRIDMAP="${GRIDMAP:-target/release/gridmap}"
PYTHON="${PYTHON:-python3}"
PY_THREADS="${PY_THREADS:-}"
LOGS="$DIR/logs"
mkdir -p "$LOGS"

die() { echo "run_assign.sh: $*" >&2; exit 2; }

# --- tools -------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
  echo "installing GNU time ..." >&2
  if [[ $(id -u) -eq 0 ]]; then
    (apt-get update -qq && apt-get install -y -qq time) >&2
  else
    (sudo apt-get update -qq && sudo apt-get install -y -qq time) >&2
  fi
  [[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) not available"
fi
[[ -x "$GRIDMAP" ]] || die "$GRIDMAP not found: run 'cargo build --release' first"
if ! "$PYTHON" -c 'import geopandas, pyogrio, shapely, pyproj, pandas, numpy' 2>/dev/null; then
  echo "installing the Python baseline's packages (bench/requirements.txt) ..." >&2
  "$PYTHON" -m pip install -q -r "$here/requirements.txt" >&2
fi

# --- data --------------------------------------------------------------------
if [[ ! -s "$DIR/grids.fgb" || ! -s "$DIR/buildings.fgb" ]]; then
  echo "generating data in $DIR ..." >&2
  "$GRIDMAP" synth --buildings 1000000 --grids 10000 --seed 1 --out-dir "$DIR"
fi
[[ -s "$DIR/grids.fgb" && -s "$DIR/buildings.fgb" ]] || die "no grids.fgb/buildings.fgb in $DIR"

# --- timing helpers ----------------------------------------------------------
# timed NAME OKCODES CMD...: runs CMD $RUNS times under /usr/bin/time -v (for
# the peak RSS; wall time is taken around it with date +%s%N), keeps
# stdout/stderr/time reports in $LOGS, sets WALL_<NAME> (median s) and
# RSS_<NAME> (max peak RSS over the runs, MiB). OKCODES: space-separated exit
# codes that count as success.
timed() {
  local name="$1" ok="$2"; shift 2
  local walls=() rss_max=0 i rc tf wall rss t0 t1
  for ((i = 1; i <= RUNS; i++)); do
    tf="$LOGS/$name.$i.time"
    set +e
    t0=$(date +%s%N)
    /usr/bin/time -v -o "$tf" "$@" >"$LOGS/$name.$i.out" 2>"$LOGS/$name.$i.err"
    rc=$?
    t1=$(date +%s%N)
    set -e
    if [[ " $ok " != *" $rc "* ]]; then
      echo "run_assign.sh: $name run $i exited $rc: $*" >&2
      tail -n 20 "$LOGS/$name.$i.err" >&2
      exit 3
    fi
    # wall time from our own ns clock (time -v's "Elapsed" has 10 ms resolution)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tf")
    [[ -n "$wall" && -n "$rss" ]] || die "cannot parse $tf"
    walls+=("$wall")
    ((rss > rss_max)) && rss_max=$rss
    printf '  %-18s run %d/%d: %8.3f s  %7.1f MiB  (exit %d)\n' \
      "$name" "$i" "$RUNS" "$wall" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$rc" >&2
  done
  printf -v "WALL_$name" '%s' "$(printf '%s\n' "${walls[@]}" | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] }')"
  printf -v "RSS_$name" '%s' "$(awk -v k="$rss_max" 'BEGIN { printf "%.0f", k / 1024 }')"
}

G="$DIR/grids.fgb"
B="$DIR/buildings.fgb"

echo "gridmap assign ($RUNS runs) ..." >&2
timed gm_assign "0" "$GRIDMAP" assign --grids "$G" --buildings "$B" --out "$DIR/gridmap.csv"

echo "geopandas assign ($RUNS runs) ..." >&2
timed py_assign "0" "$PYTHON" bench/assign_geopandas.py "$G" "$B" "$DIR/geopandas.csv"
echo "  baseline phases (last run):" >&2
grep '^\[assign_geopandas\]' "$LOGS/py_assign.$RUNS.err" | sed 's/^/    /' >&2 || true

if [[ -n "$PY_THREADS" ]]; then
  echo "geopandas assign --threads $PY_THREADS ($RUNS runs) ..." >&2
  timed py_assign_mt "0" "$PYTHON" bench/assign_geopandas.py "$G" "$B" "$DIR/geopandas_mt.csv" \
    --threads "$PY_THREADS"
fi

echo "gridmap validate ($RUNS runs) ..." >&2
timed gm_validate "0 1" "$GRIDMAP" validate --grids "$G" --buildings "$B" --json "$DIR/report.json"

echo "comparing gridmap.csv with geopandas.csv ..." >&2
set +e
"$PYTHON" bench/compare_assign.py "$DIR/gridmap.csv" "$DIR/geopandas.csv" | tee "$DIR/compare.txt"
cmp_rc=${PIPESTATUS[0]}
set -e

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

{
  echo
  echo "Data: $DIR ($(du -h "$G" | cut -f1) grids.fgb, $(du -h "$B" | cut -f1) buildings.fgb);" \
    "median of $RUNS runs, wall time; peak RSS = max over runs; $(nproc) cores."
  echo
  echo "| job | gridmap s | geopandas s | ratio (geopandas/gridmap) | gridmap peak RSS MiB | geopandas peak RSS MiB |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  echo "| assign | $WALL_gm_assign | $WALL_py_assign | $(ratio "$WALL_py_assign" "$WALL_gm_assign")" \
    "| $RSS_gm_assign | $RSS_py_assign |"
  if [[ -n "$PY_THREADS" ]]; then
    echo "| assign (geopandas --threads $PY_THREADS) | $WALL_gm_assign | $WALL_py_assign_mt" \
      "| $(ratio "$WALL_py_assign_mt" "$WALL_gm_assign") | $RSS_gm_assign | $RSS_py_assign_mt |"
  fi
  echo "| validate | $WALL_gm_validate | n/a | n/a | $RSS_gm_validate | n/a |"
  echo
  echo "compare_assign.py: $(grep -E '^(OK|FAIL):' "$DIR/compare.txt" || echo "exit $cmp_rc")"
} | tee "$DIR/bench.md"

exit "$cmp_rc"
