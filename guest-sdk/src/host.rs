//! The seam between the SDK's logic and the host imports.
//!
//! [`AgentLoop`](crate::AgentLoop) talks to the host through the [`Host`]
//! trait rather than calling the imports directly, so that its logic can be
//! unit-tested natively against a fake host (the generated imports only work
//! inside a component).

use crate::agents::AgentError;
use crate::llm::{ChatRequest, ChatResponse, LlmError, ToolSpec};
use crate::log::Level;
use crate::tools::ToolError;

/// The host services the SDK's own logic uses.
pub(crate) trait Host {
    fn chat(&mut self, request: &ChatRequest) -> Result<ChatResponse, LlmError>;
    /// Several tool calls at once, one result each, in order.
    fn call_tools(&mut self, calls: &[(String, String)]) -> Vec<Result<String, ToolError>>;
    fn spawn_agent(&mut self, agent: &str, input: &str) -> Result<String, AgentError>;
    fn join_agents(&mut self, children: &[String]) -> Vec<Result<String, AgentError>>;
    fn list_tools(&mut self) -> Vec<ToolSpec>;
    fn log(&mut self, level: Level, message: &str);
}

/// The real host, reached through the component's imports.
pub(crate) struct Imports;

impl Host for Imports {
    fn chat(&mut self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        crate::llm::chat(request)
    }

    fn call_tools(&mut self, calls: &[(String, String)]) -> Vec<Result<String, ToolError>> {
        crate::tools::call_batch(calls)
    }

    fn spawn_agent(&mut self, agent: &str, input: &str) -> Result<String, AgentError> {
        crate::agents::spawn(agent, input)
    }

    fn join_agents(&mut self, children: &[String]) -> Vec<Result<String, AgentError>> {
        crate::agents::join(children)
    }

    fn list_tools(&mut self) -> Vec<ToolSpec> {
        crate::tools::list()
    }

    fn log(&mut self, level: Level, message: &str) {
        crate::log::log(level, message);
    }
}
