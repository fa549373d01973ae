#!/usr/bin/env bash
# Builds gridmap, builds the demo project (demo-out/demo.gpkg) from data/demo if it is missing,
# validates it (real OSM buildings of the Bund and Lujiazui, synthetic grids with planted
# defects; report and problems layer in demo-out/), then serves it on http://127.0.0.1:8080/
# (GRIDMAP_BIND to change) with one demo user per role, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --quiet -p gridmap-cli
gridmap=target/release/gridmap
# The demo's household form is synthetic; a fixed key encrypts it. Never use this key, or any
# key kept in a repository, for real people: set GRIDMAP_KEY yourself (openssl rand -hex 32).
if [ -z "${GRIDMAP_KEY:-}" ] && [ -z "${GRIDMAP_KEY_FILE:-}" ]; then
  export GRIDMAP_KEY=64656d6f2d6f6e6c792d6b65792d6e657665722d666f722d7265616c2d646174
  echo "demo: using the demo-only register key (synthetic people only)"
fi
mkdir -p demo-out
project=demo-out/demo.gpkg
if [ ! -f "$project" ]; then
  echo "building the demo project $project from data/demo ..."
  scripts/demo-project.sh "$project"
  $gridmap stats "$project" --by village
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
bind="${GRIDMAP_BIND:-127.0.0.1:8080}"
cat <<USERS

Demo users (password gridmap-demo-2026 for each):
  admin       admin            whole town
  supervisor  town_supervisor  whole town
  manager     village_manager  village 310101001002
  leader      grid_leader      grid 310101001002-03
  worker      grid_worker      grid 310101001002-03
  planner     planner          whole town
Try: curl -s http://$bind/health
     curl -s -X POST http://$bind/api/login -d '{"username":"admin","password":"gridmap-demo-2026"}' -H 'content-type: application/json'
USERS
# The synthetic visits run from 2026-11-01: statistics show the rate expected by today.
exec $gridmap serve "$project" --bind "$bind" --campaign-start 2026-11-01 --campaign-end 2026-12-31
