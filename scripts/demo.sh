#!/usr/bin/env bash
# Builds gridmap and validates the demo town (real OSM buildings of the Bund and Lujiazui,
# synthetic grids with planted defects), writing the report and a problems layer to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --quiet -p gridmap-cli
mkdir -p demo-out
set +e
target/release/gridmap validate \
  --grids data/demo/grids.geojson \
  --buildings data/demo/buildings.geojson \
  --boundary data/demo/town.geojson \
  --addresses data/demo/addresses.geojson \
  --json demo-out/report.json \
  --problems demo-out/problems.geojson
code=$?
set -e
echo
echo "report: demo-out/report.json; problems (open in QGIS): demo-out/problems.geojson"
# Exit code 1 means "problems found", which is the point of the demo.
[ "$code" -le 1 ] || exit "$code"
