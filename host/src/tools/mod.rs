//! Host tools: what an agent can do outside its sandbox, as granted by the
//! operator.
//!
//! A [`Tool`] only knows how to run live. Recording, replaying and the
//! handling of calls interrupted by a crash are done once, by the replay
//! engine, for every tool alike; the tool only declares whether running it
//! twice is safe ([`Tool::idempotent`]).

pub mod command;

use crate::llm::{BoxFuture, ToolSpec};
use serde::{Deserialize, Serialize};

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
}

/// A tool the operator declared.
pub trait Tool: Send + Sync {
    /// Name, description and argument schema, as offered to the model.
    fn spec(&self) -> ToolSpec;
    /// Whether running the same call twice is harmless.
    fn idempotent(&self) -> bool;
    /// Runs the tool on JSON `arguments` and returns its JSON result.
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>>;
}
