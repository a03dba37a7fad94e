#!/usr/bin/env bash
# Builds engram and runs the `engram` command line as a newcomer would: session 1 answers the
# first message and saves what it learned; `engram memory show` prints what is remembered;
# session 2 starts with that memory and is asked what it remembers. Arguments become the first
# message.
# With ANTHROPIC_API_KEY set it talks to Claude (ANTHROPIC_BASE_URL, if set, is honoured) and
# keeps memory in the default directory (or ENGRAM_MEMORY_DIR), for user "demo" (ENGRAM_DEMO_USER).
# Without a key it starts the bundled stand-in server on 127.0.0.1, says so, and keeps the
# demo's memory in build/demo-memory so no real memory is touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ENGRAM_BUILD_DIR:-$root/build}
ENGRAM_TARGETS="engram engram_standin_server" "$root/scripts/build.sh" >/dev/null

first=${*:-"Hi, I'm Sam. I run PostgreSQL 16 on our backend and I prefer short answers."}
engram=("$build/examples/engram_cli/engram")
user=${ENGRAM_DEMO_USER:-demo}
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
  export ANTHROPIC_BASE_URL=$url ANTHROPIC_API_KEY=stand-in-key
  engram+=(--memory-dir "$build/demo-memory")
  user=${ENGRAM_DEMO_USER:-demo-$(date +%s)}
fi

say() { printf '\n$ %s\n' "$*"; }
say "engram run --user $user --message \"$first\""
"${engram[@]}" run --user "$user" --message "$first"
say "engram memory show $user"
"${engram[@]}" memory show "$user"
say "engram run --user $user --message \"What do you remember about me?\""
"${engram[@]}" run --user "$user" --message "What do you remember about me?"
echo
if [ -n "${standin:-}" ]; then
  # The stand-in server stops with this script and the key was only exported here, so the
  # demo's own command line would fail (no key) once it is gone.
  echo "Next: set ANTHROPIC_API_KEY and run: ${engram[*]} chat --user $user    (interactive; 'engram --help' for every command)"
  echo "      or, without a key, start the stand-in yourself ($build/examples/engram_standin_server prints its URL) and run:"
  echo "      ANTHROPIC_BASE_URL=URL ANTHROPIC_API_KEY=stand-in-key ${engram[*]} chat --user $user"
else
  echo "Next: ${engram[*]} chat --user $user    (interactive; 'engram --help' for every command)"
fi
