#!/bin/sh
# The `tally` tool of the stepper example, built for crash tests.
#
# stdin:  {"step":7,"wall_ns":...,"random":"..."}
# stdout: {"step": 7, "ok": true}
#
# Every invocation first appends "<RELIVE_IDEMPOTENCY_KEY> <step>" to
# $TALLY_FILE (default: tally.log in the current directory), so a test can
# count how often each step really ran.
#
# If $TALLY_HANG_AT equals the step, the tool writes its PID ($$) and that of its sleep to the file
# $TALLY_HANG_MARKER (atomically: the file appears complete) and sleeps 120 s,
# so that a test can SIGKILL the host and this process while the call is in
# flight.
set -eu

args=$(tr '\n\r\t' '   ')
step=$(printf '%s\n' "$args" | sed -n 's/.*"step"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')
if [ -z "$step" ]; then
    echo "tally: expected a JSON object with a number \"step\", got: $args" >&2
    exit 2
fi

printf '%s %s\n' "${RELIVE_IDEMPOTENCY_KEY:-}" "$step" >>"${TALLY_FILE:-tally.log}"

if [ "${TALLY_HANG_AT:-}" = "$step" ]; then
    marker=${TALLY_HANG_MARKER:?tally: TALLY_HANG_AT is set, so TALLY_HANG_MARKER must name the PID file}
    # Detached from the tool's pipes, so that a leftover sleep (after its
    # parent shell is killed) does not hold the host's stdout/stderr open.
    sleep 120 </dev/null >/dev/null 2>&1 &
    sleeper=$!
    # Both PIDs, so the test can end both processes it caused to start.
    printf '%s %s\n' "$$" "$sleeper" >"$marker.tmp"
    mv "$marker.tmp" "$marker"
    wait "$sleeper"
fi

printf '{"step": %s, "ok": true}\n' "$step"
