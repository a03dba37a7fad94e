#!/usr/bin/env bash
# Builds engram and runs the example agent host: two sessions of one user, the second
# remembering the first (examples/03_coroutine_host). Arguments become the first message.
# With ANTHROPIC_API_KEY set it talks to Claude (ANTHROPIC_BASE_URL, if set, is honoured) and
# keeps memory in the default directory (or ENGRAM_MEMORY_DIR).
# Without a key it starts the bundled stand-in server on 127.0.0.1, says so, and keeps the
# demo's memory in build/demo-memory so no real memory is touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ENGRAM_BUILD_DIR:-$root/build}
ENGRAM_TARGETS="engram_example_coroutine_host engram_standin_server" "$root/scripts/build.sh" >/dev/null

args=("$@")
if [ -z "${ANTHROPIC_API_KEY:-}" ]; then
  log=$(mktemp)
  "$build/examples/engram_standin_server" >"$log" 2>&1 &
  standin=$!
  trap 'kill $standin 2>/dev/null || true; rm -f "$log"' EXIT
  for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
  url=$(sed -n 's/^listening on //p' "$log")
  [ -n "$url" ] || { echo "could not start the stand-in server:"; cat "$log"; exit 1; }
  echo "*** ANTHROPIC_API_KEY is not set: talking to engram's local STAND-IN server at $url."
  echo "*** It is not Claude: it streams canned replies and answers the memory pass by simple rules."
  echo "*** Set ANTHROPIC_API_KEY to talk to Claude. Demo memory: $build/demo-memory"
  echo
  ANTHROPIC_BASE_URL=$url ANTHROPIC_API_KEY=stand-in-key \
    "$build/examples/engram_example_coroutine_host" --memory-dir "$build/demo-memory" --user "demo-$(date +%s)" "${args[@]}"
else
  "$build/examples/engram_example_coroutine_host" "${args[@]}"
fi
