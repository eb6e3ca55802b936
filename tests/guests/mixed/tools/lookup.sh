#!/bin/sh
# The idempotent tool `lookup` of the crash campaign's agent (tests/campaign.rs).
#
# stdin:  {"round":R,"ms":MS,"text":"..."}   (one line of JSON, as the agent sends it)
# stdout: {"looked_up": <the arguments>}
#
# Its execution log, lookup.log (in the working directory), gets the line
# "<RELIVE_IDEMPOTENCY_KEY> <arguments>" before the tool works (MS
# milliseconds), and lookup.done gets "<key>" when it is done, so the test
# can count how often each call really ran and see which one a kill cut.
# Arguments cut short (the host died while writing them) are refused before
# anything is logged, as a real tool refuses a broken request.
set -eu
args=$(cat)
key=${RELIVE_IDEMPOTENCY_KEY:-}
ms=$(printf '%s\n' "$args" | sed -n 's/^{"round":[0-9][0-9]*,"ms":\([0-9][0-9]*\),.*}$/\1/p')
if [ -z "$ms" ]; then
    echo "lookup: expected {\"round\":R,\"ms\":MS,...} on one line, got: $args" >&2
    exit 2
fi
printf '%s %s\n' "$key" "$args" >>lookup.log
sleep "$(printf '0.%03d' "$ms")"
printf '%s\n' "$key" >>lookup.done
printf '{"looked_up": %s}\n' "$args"
