#!/usr/bin/env bash
# Installs the MCP servers tests/mcp.rs runs, from the pinned files next to
# this script, into DEST (default: target/mcp-servers of the repository):
#   DEST/npm   @modelcontextprotocol/server-everything (npm ci, package-lock.json)
#   DEST/venv  mcp-server-time and the Python `mcp` SDK (pip, requirements.txt)
# Each part is skipped when it is installed from the same pinned file already
# (a copy of the file is kept next to it), so running this again is cheap.
# Used by the tests (once per test process) and by .ci/run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:-$here/../../target/mcp-servers}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"

if ! cmp -s "$here/package-lock.json" "$dest/npm/package-lock.json" \
    || [[ ! -x "$dest/npm/node_modules/.bin/mcp-server-everything" ]]; then
    echo "mcp-servers: npm ci into $dest/npm" >&2
    rm -rf "$dest/npm"
    mkdir -p "$dest/npm"
    cp "$here/package.json" "$here/package-lock.json" "$dest/npm/"
    (cd "$dest/npm" && npm ci --no-audit --no-fund --loglevel=error)
fi

if ! cmp -s "$here/requirements.txt" "$dest/venv/requirements.txt" \
    || [[ ! -x "$dest/venv/bin/mcp-server-time" ]]; then
    echo "mcp-servers: pip install into $dest/venv" >&2
    rm -rf "$dest/venv"
    python3 -m venv "$dest/venv"
    "$dest/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$dest/venv/requirements.txt"
fi
