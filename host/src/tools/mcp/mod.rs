//! MCP servers as tools: `[tools.NAME] mcp = {...}` grants the tools of a
//! Model Context Protocol server (over stdio or streamable HTTP, with the
//! `rmcp` SDK) to agents.
//!
//! The tool `TOOL` of the server `[tools.NAME]` is the relive tool
//! `NAME__TOOL` ([`exposed_name`]): configuration names hold no `__`, so no
//! two servers' tools share a name, and the names fit what models accept.
//! Its calls are journaled like every tool call (the replay engine does
//! that, not this module): a replay is answered from the journal and never
//! reaches the server.
//!
//! Whether a call may run again after a crash comes from the tool's
//! annotations — read-only or idempotent tools may — unless the operator
//! overrules them ([`idempotent_of`]).
//!
//! One [`McpServer`] per configured server is shared by every run of a
//! process ([`McpPool`]): `relive serve` keeps one connection (one
//! process, for stdio) per server, connects again — starting the server
//! again — when it died, and closes them all at shutdown. Every step is
//! bounded: the handshake by `connect_timeout_secs`, a call by
//! `timeout_secs`, a result by the run's `max_call_bytes`; a server that
//! breaks its word (an output that does not match its own schema, a tool
//! that vanished, a result too large) gets an error that says so.

mod connect;
mod pool;
mod result;
mod schema;
mod server;
mod tool;

pub use pool::McpPool;
pub use server::{Listed, McpServer};
pub use tool::McpTool;

use crate::config::{McpToolOverride, ToolConfig};

/// The separator between a server's name and its tool's name.
pub const SEPARATOR: &str = "__";
/// The longest tool name relive offers a model (OpenAI's limit).
pub const MAX_TOOL_NAME_CHARS: usize = 64;
/// Seconds to start a server and finish the handshake, by default.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 30;
/// The largest message relive reads from an MCP server over HTTP; a longer
/// one fails the call (the run's `max_call_bytes` is checked after).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The relive name of the tool `tool` of the server `server`: `server__tool`,
/// with every character a model would refuse (MCP allows `.`) made `_`.
pub fn exposed_name(server: &str, tool: &str) -> String {
    let tool: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{server}{SEPARATOR}{tool}")
}

/// The server part of an exposed name (`NAME` of `NAME__TOOL`).
pub fn server_of(exposed: &str) -> Option<&str> {
    exposed.split_once(SEPARATOR).map(|(server, _)| server)
}

/// Whether calls of `tool` may run again after a crash interrupted them:
/// the operator's override for the tool, else the server table's
/// `idempotent`, else the annotations: read-only or idempotent tools may.
///
/// `destructiveHint` alone does not decide it: writing a file is
/// destructive yet idempotent (the same write twice leaves the same file).
pub fn idempotent_of(tool: &rmcp::model::Tool, config: &ToolConfig) -> (bool, &'static str) {
    let over = config
        .overrides
        .get(tool.name.as_ref())
        .and_then(|o: &McpToolOverride| o.idempotent);
    if let Some(idempotent) = over {
        return (idempotent, "override");
    }
    if let Some(idempotent) = config.idempotent {
        return (idempotent, "the server's table");
    }
    let hints = tool.annotations.as_ref();
    let read_only = hints.and_then(|a| a.read_only_hint) == Some(true);
    let idempotent = hints.and_then(|a| a.idempotent_hint) == Some(true);
    (read_only || idempotent, "annotations")
}

/// Whether calls of the MCP tool `tool` (its MCP name) need approval.
pub fn approval_of(tool: &str, config: &ToolConfig) -> bool {
    let approval = config
        .overrides
        .get(tool)
        .and_then(|o| o.approval)
        .unwrap_or(config.approval);
    approval == crate::config::ToolApproval::Required
}

/// Installs rustls' ring provider, once: rmcp's HTTP client (reqwest
/// 0.13, built without a provider of its own) panics without one.
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests;
