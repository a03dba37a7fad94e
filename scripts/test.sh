#!/usr/bin/env bash
# Builds engram and runs every test with CTest. Extra arguments go to ctest (e.g. -R net).
# Same knobs as scripts/build.sh; CI runs it with warnings as errors under sanitizers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ENGRAM_BUILD_DIR:-$root/build}
ENGRAM_TARGETS="${ENGRAM_TARGETS:-}" "$root/scripts/build.sh"
# Sanitizer reports fail the run; leak checking stays on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# tests/tsan.supp: one false positive of TSan inside Asio (why: see the file).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp}
ctest --test-dir "$build" --output-on-failure -j "${ENGRAM_TEST_JOBS:-2}" "$@"
