//! MCP end to end (issue 17): the real `relive` binary with real MCP
//! servers installed from the package registries — `mcp-server-time`
//! (PyPI, stdio) and `@modelcontextprotocol/server-everything` (npm, over
//! stdio and streamable HTTP) — plus `liar.py`, a server that breaks its
//! word; and real MCP clients (the Python SDK) driving `relive mcp` and the
//! `/mcp` endpoint of `relive serve`.
//!
//! The servers are installed once into target/mcp-servers from the pinned
//! files in tests/mcp-servers (`install.sh`; it needs `npm` and `python3`
//! and reaches the registries the first time). A failed install fails the
//! tests; set `RELIVE_SKIP_MCP_TESTS=1` to skip them instead.
//!
//! Run: `cargo test -p relive-host --test mcp` (add a name to filter).

mod support;

#[path = "mcp/common.rs"]
mod common;
#[path = "mcp/kill.rs"]
mod kill;
#[path = "mcp/relive_server.rs"]
mod relive_server;
#[path = "mcp/serve.rs"]
mod serve;
#[path = "mcp/tools.rs"]
mod tools;
