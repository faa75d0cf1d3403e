#!/usr/bin/env bash
# Builds redline (release, -O3, debug info) into build/. Installs packages first if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release >/dev/null
fi
ninja -C build "$@" >/tmp/redline-build.$$.log 2>&1 || { cat /tmp/redline-build.$$.log; rm -f /tmp/redline-build.$$.log; exit 1; }
rm -f /tmp/redline-build.$$.log
