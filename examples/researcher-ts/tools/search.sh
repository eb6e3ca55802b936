#!/bin/sh
# The `search` tool of the researcher example: searches a few canned research
# notes. No network, no state, deterministic (but see SEARCH_LOG and
# SEARCH_HANG_ON below).
#
# stdin:  {"query": "durable execution"}
# stdout: {"query": "durable execution", "notes": [{"id": 1, "text": "..."}, ...]}
#         the notes containing a word of the query (3+ letters, any case).
# A missing or empty query exits 2 with the reason on stderr.
set -eu

# The arguments as one line; the query is the first JSON string after "query"
# (up to a quote or a backslash: escaped characters are not supported).
args=$(tr '\n\r\t' '   ')
query=$(printf '%s\n' "$args" |
    sed -n 's/.*"query"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p')
if [ -z "$query" ]; then
    echo "search: expected a JSON object with a non-empty string \"query\", got: $args" >&2
    exit 2
fi

# For demos and tests: every call is logged to $SEARCH_LOG (if set), and a
# query containing $SEARCH_HANG_ON hangs, so the host can be killed mid-call.
if [ -n "${SEARCH_LOG:-}" ]; then
    printf '%s %s\n' "${RELIVE_IDEMPOTENCY_KEY:-}" "$query" >>"$SEARCH_LOG"
fi
if [ -n "${SEARCH_HANG_ON:-}" ]; then
    case $query in
    *"$SEARCH_HANG_ON"*)
        # One process to end: this shell becomes the sleep, PID unchanged.
        [ -z "${SEARCH_HANG_PIDFILE:-}" ] || echo "$$" >"$SEARCH_HANG_PIDFILE"
        exec sleep 30 </dev/null >/dev/null 2>&1
        ;;
    esac
fi

notes() {
    cat <<'NOTES'
1|Durable execution records the progress of a program step by step, so that it survives a crash of the process and continues where it stopped.
2|Temporal, Restate and DBOS offer durable execution for services; each keeps an event history or journal of the steps a workflow completed.
3|A WebAssembly component runs in a sandbox and reaches the outside world only through the imports its host provides.
4|relive makes agents durable by journaling every host call (LLM, tool, clock, randomness) in SQLite before the agent sees the result.
5|On resume, relive replays the journal: recorded answers are returned instead of calling the LLM or running tools again; past the last entry the run is live.
6|Replay needs a deterministic agent: a changed build is checked against recorded journals and stops with a divergence error at the first call that differs.
7|An idempotency key derived from the run id and the journal position lets a tool interrupted by a crash be run again safely.
8|Group commit: one writer thread batches the journal writes of many runs into one SQLite transaction.
NOTES
}

# Lowercase query words of at least 3 letters or digits.
words=$(printf '%s\n' "$query" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' ' ')

printf '{"query": "%s", "notes": [' "$query"
notes | {
    sep=''
    while IFS='|' read -r id text; do
        lower=$(printf '%s\n' "$text" | tr 'A-Z' 'a-z')
        for word in $words; do
            [ "${#word}" -ge 3 ] || continue
            case $lower in
            *"$word"*)
                printf '%s{"id": %s, "text": "%s"}' "$sep" "$id" "$text"
                sep=', '
                break
                ;;
            esac
        done
    done
}
printf ']}\n'
