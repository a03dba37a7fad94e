#!/usr/bin/env bash
# Builds engram and streams one reply with the example agent client.
# With ANTHROPIC_API_KEY set it talks to Claude (ANTHROPIC_BASE_URL, if set, is honoured).
# Without a key it starts the bundled stand-in server on 127.0.0.1 and says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ENGRAM_BUILD_DIR:-$root/build}
ENGRAM_TARGETS="engram_example_streaming engram_standin_server" "$root/scripts/build.sh" >/dev/null

message=${*:-"Hello! In one sentence, what can an agent with durable memory do for me?"}
if [ -z "${ANTHROPIC_API_KEY:-}" ]; then
  log=$(mktemp)
  "$build/examples/engram_standin_server" >"$log" 2>&1 &
  standin=$!
  trap 'kill $standin 2>/dev/null || true; rm -f "$log"' EXIT
  for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
  url=$(sed -n 's/^listening on //p' "$log")
  [ -n "$url" ] || { echo "could not start the stand-in server:"; cat "$log"; exit 1; }
  echo "*** ANTHROPIC_API_KEY is not set: talking to engram's local STAND-IN server at $url."
  echo "*** It is not Claude; it streams a canned reply. Set ANTHROPIC_API_KEY to talk to Claude."
  ANTHROPIC_BASE_URL=$url ANTHROPIC_API_KEY=stand-in-key "$build/examples/engram_example_streaming" "$message"
else
  "$build/examples/engram_example_streaming" "$message"
fi
