//! Host tools: what an agent can do outside its sandbox, as granted by the
//! operator.
//!
//! A [`Tool`] only knows how to run live. Recording, replaying and the
//! handling of calls interrupted by a crash are done once, by the replay
//! engine, for every tool alike; the tool only declares whether running it
//! twice is safe ([`Tool::idempotent`]).
//!
//! A tool is a program the operator declared ([`command`]), one of relive's
//! built-in tools ([`Builtin`]: [`http_get`] and [`files`]), or a tool of
//! an MCP server ([`mcp`]).

pub mod base64;
pub mod command;
pub mod files;
pub mod http_get;
pub mod mcp;

use crate::config::ToolConfig;
use crate::llm::{BoxFuture, ToolSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// The built-in tools, as named by `builtin = "..."` under `[tools.NAME]`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// GET over http(s) to allow-listed hosts ([`http_get::HttpGetTool`]).
    HttpGet,
    /// Files inside a per-run workspace directory ([`files::FilesTool`]).
    Files,
}

impl Builtin {
    /// The value of `builtin` that selects this tool.
    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::HttpGet => "http_get",
            Builtin::Files => "files",
        }
    }
}

/// The tool `[tools.NAME]` declares (a validated [`ToolConfig`] of a
/// command or built-in tool; an MCP server's tools are made by
/// [`mcp::McpPool`]); relative paths resolve against `base_dir`, the
/// directory of relive.toml.
pub fn from_config(name: &str, config: &ToolConfig, base_dir: &Path) -> Arc<dyn Tool> {
    match config.builtin {
        Some(Builtin::HttpGet) => Arc::new(http_get::HttpGetTool::new(name, config)),
        Some(Builtin::Files) => Arc::new(files::FilesTool::new(name, config, base_dir)),
        None => Arc::new(command::CommandTool::new(name, config, base_dir)),
    }
}

/// A failed tool call, as the guest sees it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum ToolError {
    /// No tool of this name is granted to the agent.
    #[error("not found: {0}")]
    NotFound(String),
    /// The arguments are not valid JSON.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and failed.
    #[error("failed: {0}")]
    Failed(String),
}

/// Where a call sits in its run.
#[derive(Clone, Debug)]
pub struct ToolContext {
    pub run_id: String,
    pub seq: u64,
    /// Identical each time the same call is re-issued after a crash; a tool
    /// can use it to make itself idempotent.
    pub idempotency_key: String,
    /// The largest result the run accepts: its `max_call_bytes`.
    pub max_result_bytes: usize,
    /// Whether an earlier call of this tool in the run succeeded (its
    /// journal says so, replayed calls included): a tool that keeps state
    /// outside the journal (the `files` tool's workspace) expects to find
    /// it, and refuses to go on without it.
    pub used_before: bool,
}

/// A tool the operator declared.
pub trait Tool: Send + Sync {
    /// Name, description and argument schema, as offered to the model.
    fn spec(&self) -> ToolSpec;
    /// Whether running the same call twice is harmless.
    fn idempotent(&self) -> bool;
    /// Gets ready to describe itself ([`Tool::spec`]) when that needs a
    /// connection (an MCP tool of a resumed run); errors show in the spec.
    fn prepare(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// Runs the tool on JSON `arguments` and returns its JSON result.
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>>;
}

/// Cuts `text` to `max` characters for a message, marking the cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}… ({} bytes)", text.len())
}
