#!/bin/sh
# The `send` tool of the approver example: "sends" a message by appending it
# to the outbox file ($OUTBOX, default outbox.log). Idempotent by design: a
# call re-issued after a crash carries the same RELIVE_IDEMPOTENCY_KEY, and a
# key already in the outbox is not sent again.
set -eu
outbox=${OUTBOX:-outbox.log}
args=$(tr '\n\r\t' '   ')
key=${RELIVE_IDEMPOTENCY_KEY:?send: run me from relive}
if [ -f "$outbox" ] && grep -q "^$key " "$outbox"; then
    echo '{"sent": false, "duplicate": true}'
    exit 0
fi
printf '%s %s\n' "$key" "$args" >>"$outbox"
echo '{"sent": true}'
