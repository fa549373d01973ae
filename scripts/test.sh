#!/usr/bin/env bash
# Runs every test: the workspace's unit, property, golden and end-to-end CLI tests, then the
# web map's tests in headless Chromium against the real `gridmap serve` (web/tests). The
# PostgreSQL store's tests run against a throw-away PostgreSQL/PostGIS cluster started here
# (scripts/pg-test-cluster.sh, in target/pg-test) and stopped when this script exits; its URL
# is in GRIDMAP_TEST_PG. Set GRIDMAP_TEST_PG yourself to use another database instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
target_dir="${CARGO_TARGET_DIR:-target}"
if [ -z "${GRIDMAP_TEST_PG:-}" ]; then
  pg_dir="$target_dir/pg-test"
  scripts/pg-test-cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true # one a killed run left
  trap 'scripts/pg-test-cluster.sh stop "$pg_dir"' EXIT
  GRIDMAP_TEST_PG=$(scripts/pg-test-cluster.sh start "$pg_dir")
  export GRIDMAP_TEST_PG
  echo "test: PostgreSQL for the store's tests at $GRIDMAP_TEST_PG" >&2
fi
cargo test --workspace --all-targets
cargo test --workspace --doc
cargo build -p gridmap-cli
(cd web && GRIDMAP="$(cd .. && realpath "$target_dir")/debug/gridmap" npm test)
