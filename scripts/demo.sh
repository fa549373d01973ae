#!/usr/bin/env bash
# Builds gridmap, builds the demo project (demo-out/demo.gpkg) from data/demo if it is missing,
# and validates it: real OSM buildings of the Bund and Lujiazui, synthetic grids with planted
# defects. Writes the report and a problems layer to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --quiet -p gridmap-cli
gridmap=target/release/gridmap
mkdir -p demo-out
project=demo-out/demo.gpkg
if [ ! -f "$project" ]; then
  echo "building the demo project $project from data/demo ..."
  $gridmap init "$project" --town 外滩陆家嘴演示镇 --code 310101001
  $gridmap import "$project" --layer boundary data/demo/town.geojson
  $gridmap import "$project" --layer villages data/demo/villages.geojson
  $gridmap import "$project" --layer grids data/demo/grids.geojson --who demo --why "demo data"
  $gridmap import "$project" --layer buildings data/demo/buildings.geojson
  $gridmap import "$project" --layer addresses data/demo/addresses.geojson
  echo
fi
set +e
$gridmap validate "$project" --json demo-out/report.json --problems demo-out/problems.geojson
code=$?
set -e
echo
echo "project: $project (open it in QGIS); report: demo-out/report.json; problems: demo-out/problems.geojson"
# Exit code 1 means "problems found", which is the point of the demo.
[ "$code" -le 1 ] || exit "$code"
