#!/usr/bin/env bash
# relive's quickstart demo: runs the researcher example end to end, kills the
# host with SIGKILL in the middle of a tool call, and resumes the run from its
# journal. Builds whatever it needs (and adds the wasm32-wasip2 target if
# missing). Usage: ./demo.sh
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    step "adding the wasm32-wasip2 target"
    rustup target add wasm32-wasip2
fi
step "building the relive host and the example agents (the first build takes a few minutes)"
cargo build --quiet -p relive-host
cargo build --quiet --release --target wasm32-wasip2 -p researcher -p stepper
relive="$PWD/target/debug/relive"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RELIVE_DB="$work/relive.db" SEARCH_LOG="$work/search.log"
cd examples/researcher

step "1. a complete run of the researcher agent (scripted LLM, one command tool)"
"$relive" run researcher --input "How does relive resume a crashed run?"

step "2. a second run, killed with SIGKILL while its second search is in flight"
: >"$SEARCH_LOG"
SEARCH_HANG_ON="replay journal" SEARCH_HANG_PIDFILE="$work/search.pid" "$relive" run researcher --input "What survives a crash?" &
pid=$!
until [ -s "$work/search.pid" ]; do sleep 0.1; done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
kill "$(cat "$work/search.pid")" 2>/dev/null || true   # the hung search, by its PID
run=$("$relive" runs --status running --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n 1)
echo "killed; the journal keeps what the run did so far:"
"$relive" runs
"$relive" show "$run"

step "3. relive resume: replays the journal (no LLM call, no search runs again), then goes on live"
"$relive" resume "$run"

step "the search tool's own log: the first search of the killed run ran once; the interrupted one ran again"
cat "$SEARCH_LOG"
echo
echo "Done. Try: $relive --help"
