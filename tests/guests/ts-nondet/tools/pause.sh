#!/bin/sh
# The `pause` tool of ts-nondet: answers {} at once, except when
# PAUSE_PIDFILE is set: then it writes its PID there and hangs, so that the
# test can kill the host while the call runs.
cat >/dev/null
if [ -n "${PAUSE_PIDFILE:-}" ]; then
    echo "$$" >"$PAUSE_PIDFILE"
    exec sleep 30 </dev/null >/dev/null 2>&1
fi
echo '{}'
