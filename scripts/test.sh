#!/usr/bin/env bash
# Runs every test: the workspace's unit, property, golden and end-to-end CLI tests, then the
# web map's tests in headless Chromium against the real `gridmap serve` (web/tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo test --workspace --all-targets
cargo test --workspace --doc
cargo build -p gridmap-cli
target_dir="${CARGO_TARGET_DIR:-target}"
(cd web && GRIDMAP="$(cd .. && realpath "$target_dir")/debug/gridmap" npm test)
