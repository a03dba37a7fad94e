#!/usr/bin/env bash
# Correctness (not timing) of engram_loadgen against the bundled stand-in server on 127.0.0.1:
# 200 sessions x 2 turns with 0 errors and the right counts, then 20 sessions with the memory
# pass on, every extraction applied.
#   loadgen_smoke.sh LOADGEN STANDIN
set -euo pipefail
loadgen=$1 standin=$2
log=$(mktemp) out=$(mktemp) err=$(mktemp)
"$standin" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log" "$out" "$err"' EXIT
for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$log")
[ -n "$url" ] || { echo "stand-in did not start:"; cat "$log"; exit 1; }

check() {  # check EXPECTED_SESSIONS EXPECTED_TURNS
  cat "$out"
  grep -q "^RESULT peer=engram sessions=$1 turns=$2 deltas=[1-9][0-9]* bytes=[1-9][0-9]* wall_s=[0-9.]* errors=0 digest=[0-9a-f]\{16\}$" "$out" ||
    { echo "FAIL: unexpected RESULT line"; cat "$err"; exit 1; }
}

check_stats() {  # check_stats SESSIONS: runtime::stats() as the loadgen read it, all open and after shutdown
  grep -q "stats with every session open: sessions_open=$1 requests_in_flight=0 memory_passes_pending=0 " "$err" ||
    { echo "FAIL: stats with every session open"; cat "$err"; exit 1; }
  grep -q "stats after shutdown: sessions_open=0 requests_in_flight=0 requests_waiting=0 memory_passes_pending=0 memory_passes_parked=0 idle_connections=0 in_use=0$" "$err" ||
    { echo "FAIL: stats after shutdown"; cat "$err"; exit 1; }
}

ANTHROPIC_BASE_URL=$url ANTHROPIC_API_KEY=smoke SESSIONS=200 TURNS=2 "$loadgen" >"$out" 2>"$err" ||
  { echo "FAIL: loadgen exited $?"; cat "$out" "$err"; exit 1; }
check 200 2
check_stats 200

ANTHROPIC_BASE_URL=$url ANTHROPIC_API_KEY=smoke SESSIONS=20 TURNS=1 "$loadgen" --extract >"$out" 2>"$err" ||
  { echo "FAIL: loadgen --extract exited $?"; cat "$out" "$err"; exit 1; }
check 20 1
check_stats 20
grep -q "extractions ok=20 failed=0" "$err" || { echo "FAIL: extractions"; cat "$err"; exit 1; }
echo "loadgen smoke: ok"
