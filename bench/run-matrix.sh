#!/usr/bin/env bash
# Runs the figures of bench/README.md: engram_loadgen side by side with the peers of
# ../shared/bench (the official TypeScript SDK, a Python httpx client) on the same fake server.
#   bench/run-matrix.sh [OUTDIR]          (needs node and npm; Release build of engram_loadgen)
# ../shared/bench is read-only, so it is copied (run-peers.sh installs node_modules there).
# Environment: ENGRAM_BENCH_DIR (where ../shared/bench is copied, default /tmp/engram-bench),
# LOADGEN (the binary; default: built here in build-release), BEFORE (optional second binary,
# run with the same commands for before/after figures).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-release/bench-results}
work=${ENGRAM_BENCH_DIR:-/tmp/engram-bench}
mkdir -p "$out"
if [ -z "${LOADGEN:-}" ]; then
  cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DENGRAM_BUILD_TESTS=OFF >/dev/null
  cmake --build "$root/build-release" --target engram_loadgen -j"${ENGRAM_JOBS:-2}" >/dev/null
  LOADGEN=$root/build-release/bench/loadgen/engram_loadgen
fi
[ -d "$work" ] || cp -r "$root/../shared/bench" "$work"
cd "$work"
run() { local name=$1; shift; echo "=== $name: $*" | tee -a "$out/$name.txt"; env "$@" ./run-peers.sh 2>&1 | tee -a "$out/$name.txt"; }
run A_1k_batch1_all SESSIONS=1000 TURNS=2 REPEAT=3 PROJECT_CMD="$LOADGEN"
run B_1k_batch16 SESSIONS=1000 TURNS=2 REPEAT=3 FAKE_BATCH=16 PEERS=node-sdk-stream PROJECT_CMD="$LOADGEN"
run C_1k_paced SESSIONS=1000 TURNS=2 REPEAT=2 FAKE_DELAY_MS=20 PEERS=node-sdk-stream LOADGEN_LATENCY=1 PROJECT_CMD="$LOADGEN | tee -a $out/C_latency.log"
run D_10k_paced SESSIONS=10000 TURNS=1 REPEAT=2 FAKE_DELAY_MS=20 PEERS=node-sdk-stream PROJECT_CMD="$LOADGEN | tee -a $out/D_latency.log"
run F_1k_8turns_batch16 SESSIONS=1000 TURNS=8 REPEAT=2 FAKE_BATCH=16 PEERS=node-sdk-stream PROJECT_CMD="$LOADGEN"
if [ -n "${BEFORE:-}" ]; then
  run E_before_batch1 SESSIONS=1000 TURNS=2 REPEAT=3 PEERS=node-sdk-stream PROJECT_CMD="$BEFORE"
  run E_before_batch16 SESSIONS=1000 TURNS=2 REPEAT=3 FAKE_BATCH=16 PEERS=node-sdk-stream PROJECT_CMD="$BEFORE"
fi
echo "results in $out"
