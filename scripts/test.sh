#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, golden and end-to-end CLI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo test --workspace --all-targets
cargo test --workspace --doc
