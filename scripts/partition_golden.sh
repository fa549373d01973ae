#!/usr/bin/env bash
# Byte-identity of `gridmap partition` on the benchmark inputs, through the CLI: the demo town
# at 82 grids, at 300 households a grid and from today's grids, and a synthetic town of 10,000
# buildings at 25 grids. Compares the SHA-256 of every plan GeoJSON and report JSON (less its
# runtime_s line, the one figure that changes from run to run) with
# crates/partition/tests/golden/cli.sha256; UPDATE_GOLDEN=1 rewrites that file. The library's
# own test of the same plans is crates/partition/tests/golden_plans.rs (cargo test).
#
#   cargo build --release -p gridmap-cli && scripts/partition_golden.sh [target/release/gridmap]
set -euo pipefail
cd "$(dirname "$0")/.."
gridmap="${1:-${CARGO_TARGET_DIR:-target}/release/gridmap}"
golden=crates/partition/tests/golden/cli.sha256
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

demo=(--boundary data/demo/town.geojson --buildings data/demo/buildings.geojson
      --barriers data/demo/raw/roads.geojson --seed 1)
run() {
    local name="$1"
    shift
    local started=$SECONDS
    "$gridmap" partition "$@" --out "$work/$name.geojson" --report "$work/$name.json" >/dev/null \
        || [ $? -eq 1 ] # 1: the plan is written, some grid is outside the tolerance
    grep -v '"runtime_s":' "$work/$name.json" >"$work/$name.report"
    echo "$name: $((SECONDS - started)) s" >&2
}
run demo-82-grids "${demo[@]}" --grids 82
run demo-300-households "${demo[@]}" --target-households 300
run demo-from-current "${demo[@]}" --from-current data/demo/grids.geojson
"$gridmap" synth --buildings 10000 --grids 100 --seed 7 --format geojson \
    --out-dir "$work/synth" 2>/dev/null
run synth-10000 --boundary "$work/synth/boundary.geojson" \
    --buildings "$work/synth/buildings.geojson" --grids 25 --seed 1

got="$(cd "$work" && sha256sum -- *.geojson *.report)"
if [ -n "${UPDATE_GOLDEN:-}" ]; then
    echo "$got" >"$golden"
    echo "wrote $golden"
elif [ "$got" = "$(cat "$golden")" ]; then
    echo "every plan and report is identical to $golden"
else
    diff <(cat "$golden") <(echo "$got") || true
    echo "the plans or reports differ from $golden" >&2
    exit 1
fi
