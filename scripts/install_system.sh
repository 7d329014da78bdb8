#!/usr/bin/env bash
# System packages for the whole test suite: QGIS 3.22 (PyQGIS, qgis_process) from Debian bookworm,
# python3-venv for the QGIS environment, Chromium for the browser test of the web map, and the
# headers to build shapely (and pyogrio) against the system GEOS/GDAL that QGIS itself loads
# (wheels bundling their own GEOS/PROJ/GDAL crash inside the QGIS executables: see
# scripts/qgis_env.py), with the distribution's pyproj built against the system PROJ.
# As root it installs what is missing; otherwise it says what is missing and carries on
# (QGIS and browser tests are then skipped with their reason, which CI treats as a failure).
set -euo pipefail
pkgs=(python3-qgis qgis python3-venv chromium chromium-driver
      libgeos-dev libgdal-dev python3-dev gcc g++ python3-pyproj)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (${pkgs[*]})"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "system packages missing: ${missing[*]} (run as root: apt-get install -y --no-install-recommends ${missing[*]})" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
