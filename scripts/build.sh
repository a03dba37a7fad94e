#!/usr/bin/env bash
# Configures and builds engram in ./build (or $ENGRAM_BUILD_DIR).
# Environment knobs: ENGRAM_SANITIZE ("address,undefined" or "thread"), ENGRAM_WERROR (ON/OFF),
# CMAKE_BUILD_TYPE, ENGRAM_JOBS, ENGRAM_TARGETS (space-separated; default: everything).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ENGRAM_BUILD_DIR:-$root/build}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" \
  -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
  -DENGRAM_SANITIZE="${ENGRAM_SANITIZE:-}" \
  -DENGRAM_WERROR="${ENGRAM_WERROR:-OFF}" >/dev/null
targets=()
for t in ${ENGRAM_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "${ENGRAM_JOBS:-$(nproc)}" "${targets[@]}"
