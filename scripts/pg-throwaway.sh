#!/usr/bin/env bash
# Start a throw-away PostgreSQL cluster, print its URL, and stop it on `stop`.
#   eval "$(pg-throwaway.sh start [--fast])"   -> exports PGTMP, PGPORT, PGBIN, DATABASE_URL
#   pg-throwaway.sh stop "$PGTMP"
# Works as root (runs initdb/postgres as user `postgres`, else `nobody`) and as
# any unprivileged user (runs them as itself).
set -euo pipefail

pgbin() {
  # Newest installed Debian major version, e.g. /usr/lib/postgresql/15/bin.
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -x "$d/initdb" ] || { echo "no PostgreSQL server under /usr/lib/postgresql" >&2; exit 1; }
  echo "$d"
}

as_owner() {
  # Run "$@" as the cluster's OS owner.
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PGOWNER" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  # Ask the kernel for a free port on 127.0.0.1 (a race remains: retry on bind failure).
  python3 - <<'EOF' 2>/dev/null || echo $(( 20000 + RANDOM % 20000 ))
import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
EOF
}

cmd=${1:-}
case "$cmd" in
start)
  fast=${2:-}
  PGBIN=$(pgbin)
  if [ "$(id -u)" = 0 ]; then
    PGOWNER=postgres; id -u postgres >/dev/null 2>&1 || PGOWNER=nobody
  else
    PGOWNER=$(id -un)
  fi
  # /tmp is world-traversable, so the unprivileged owner can reach the dir.
  PGTMP=$(mktemp -d /tmp/relive-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown "$PGOWNER": "$PGTMP"
  as_owner "$PGBIN/initdb" -D "$PGTMP/data" -U postgres --auth=trust \
    -E UTF8 --locale=C --no-sync --no-instructions >"$PGTMP/initdb.log" 2>&1 \
    || { cat "$PGTMP/initdb.log" >&2; exit 1; }
  opts=(-c listen_addresses=127.0.0.1 -c "unix_socket_directories=$PGTMP"
        -c max_connections=200 -c shared_buffers=64MB)
  [ "$fast" = --fast ] && opts+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
  for _ in 1 2 3 4 5; do
    PGPORT=$(free_port)
    # pg_ctl -w waits until the server accepts connections; -o passes options.
    if as_owner "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 30 \
         -o "-p $PGPORT ${opts[*]}" start >/dev/null; then
      echo "export PGTMP=$PGTMP PGPORT=$PGPORT PGBIN=$PGBIN PGOWNER=$PGOWNER"
      echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/postgres"
      exit 0
    fi
    tail -n 3 "$PGTMP/server.log" >&2
  done
  exit 1
  ;;
stop)
  PGTMP=${2:?usage: stop PGTMP}
  PGBIN=$(pgbin)
  PGOWNER=$(stat -c %U "$PGTMP/data")
  # -m fast: abort open transactions, disconnect clients, checkpoint, exit.
  [ -f "$PGTMP/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null
  rm -rf "$PGTMP"
  ;;
*) echo "usage: $0 start [--fast] | stop PGTMP" >&2; exit 2 ;;
esac
