#!/bin/sh
# The `nap` tool of the batch tests: sleeps the given milliseconds, logging
# "KEY start NS" before and "KEY end NS" after to $NAP_LOG, and prints
# {"i": I, "slept": MS}.
set -eu
args=$(tr '\n\r\t' '   ')
i=$(printf '%s\n' "$args" | sed -n 's/.*"i"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p')
ms=$(printf '%s\n' "$args" | sed -n 's/.*"ms"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p')
log=${NAP_LOG:-nap.log}
printf '%s start %s\n' "${RELIVE_IDEMPOTENCY_KEY:-}" "$(date +%s%N)" >>"$log"
if [ -n "${NAP_HANG_AT:-}" ] && [ "$NAP_HANG_AT" = "$i" ]; then
    echo "$$" >"${NAP_HANG_PIDFILE:?}"
    exec sleep 30 </dev/null >/dev/null 2>&1
fi
sleep "$(printf '0.%03d' "$ms")"
printf '%s end %s\n' "${RELIVE_IDEMPOTENCY_KEY:-}" "$(date +%s%N)" >>"$log"
printf '{"i": %s, "slept": %s}\n' "$i" "$ms"
