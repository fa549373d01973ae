#!/usr/bin/env bash
# Installs what building and testing gridmap needs on a fresh Debian 12 machine that has the
# Rust toolchain: a C toolchain, pkg-config and libclang for crates that build C code, GDAL and
# PROJ (libraries and their command-line tools, which tests use as references). Idempotent and
# quick when everything is already there. Later crates add their Debian packages here.
set -euo pipefail

packages=(build-essential pkg-config libclang-dev libgdal-dev gdal-bin libproj-dev proj-bin sqlite3)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
