#!/usr/bin/env bash
# Builds the demo project PROJECT.gpkg from data/demo with the gridmap binary GRIDMAP
# (default target/release/gridmap): the town, villages, grids with planted defects, OSM
# buildings, addresses, OSM roads, water and land use (the basemap), the synthetic household form,
# synthetic visits (data/build_visits.py), and one demo user per role
# (password gridmap-demo-2026: `gridmap user add` refuses a password holding the username).
# Used by scripts/demo.sh and by the browser tests.
# Needs GRIDMAP_KEY (or GRIDMAP_KEY_FILE) for the household form.
set -euo pipefail
project="${1:?usage: scripts/demo-project.sh PROJECT.gpkg}"
cd "$(dirname "$0")/.."
gridmap="${GRIDMAP:-target/release/gridmap}"
out_dir="$(dirname "$project")"
mkdir -p "$out_dir"
$gridmap init "$project" --town 外滩陆家嘴演示镇 --code 310101001
$gridmap import "$project" --layer boundary data/demo/town.geojson
$gridmap import "$project" --layer villages data/demo/villages.geojson
$gridmap import "$project" --layer grids data/demo/grids.geojson --who demo --why "demo data"
$gridmap import "$project" --layer buildings data/demo/buildings.geojson
$gridmap import "$project" --layer addresses data/demo/addresses.geojson
# The basemap the web map draws under the grids (no external basemap on an intranet).
$gridmap import "$project" --layer roads data/demo/raw/roads.geojson
$gridmap import "$project" --layer water data/demo/raw/water.geojson
$gridmap import "$project" --layer landuse data/demo/raw/landuse.geojson
# Synthetic households (fictional people); rows whose address matches two buildings are
# skipped and listed in households.rejected.csv beside the project.
$gridmap import "$project" --layer households data/demo/households.csv \
  --skip-invalid --rejected "$out_dir/households.rejected.csv"
# Synthetic visits of a campaign 2026-11-01 … 2026-11-20 (no real people).
$gridmap import "$project" --layer visits data/demo/visits.geojson
# Demo users, one per role (synthetic; change or remove them for real use).
for u in "admin admin 310101001" "supervisor town_supervisor 310101001" \
         "manager village_manager 310101001002" "leader grid_leader 310101001002-03" \
         "worker grid_worker 310101001002-03" "planner planner 310101001"; do
  set -- $u
  echo "gridmap-demo-2026" | $gridmap user add "$project" --username "$1" --role "$2" --scope "$3" --password-stdin
done
