#!/usr/bin/env bash
# Installs what building and testing gridmap needs on a fresh Debian 12 machine that has the
# Rust toolchain: a C toolchain, pkg-config and libclang for crates that build C code, GDAL and
# PROJ (libraries and their command-line tools, which tests use as references), Node.js and
# Debian's Chromium for the web app and its browser tests, a CJK font (fonts-wqy-microhei: the
# browser tests' Chinese and the QR door plates' PDF), poppler-utils and zbar-tools (the plate
# tests render the PDF and decode its QR codes), the web app's npm packages
# (web/package-lock.json, installed into web/node_modules; nothing is fetched at run time), and
# the OGC API clients the OGC tests drive: Debian's QGIS with PyQGIS (headless), and OWSLib
# (into the virtual environment target/py: Debian's Python refuses pip installs outside one),
# and PostgreSQL 15 with PostGIS 3 for the PostgreSQL store's tests (scripts/test.sh runs them
# on a throw-away cluster, scripts/pg-test-cluster.sh; no system cluster is needed or started).
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential pkg-config libclang-dev libgdal-dev gdal-bin libproj-dev proj-bin sqlite3
          nodejs chromium chromium-driver fonts-wqy-microhei poppler-utils zbar-tools
          python3-venv qgis python3-qgis postgresql-15 postgresql-15-postgis-3)
missing=()
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  # Without --no-install-recommends Chromium pulls upgrades and can fail half-way.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
command -v npm >/dev/null || {
  echo "setup: installing npm" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm
}
# The web app's ES modules and the browser-test driver, exactly as locked.
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "setup: installing the web app's npm packages" >&2
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
# OWSLib for tests/cli_ogc.rs, pinned.
owslib=OWSLib==0.35.0
if ! target/py/bin/python3 -c "import owslib.ogcapi.features" >/dev/null 2>&1; then
  echo "setup: installing $owslib into target/py" >&2
  python3 -m venv target/py
  target/py/bin/pip install -q --disable-pip-version-check "$owslib"
fi
