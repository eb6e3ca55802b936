//! One tool of an MCP server, as a relive [`Tool`].

use super::{McpServer, result};
use crate::llm::{BoxFuture, ToolSpec};
use crate::tools::{Tool, ToolContext, ToolError};
use std::sync::Arc;

/// The tool `NAME__TOOL`: calls go to the server `NAME`, which finds its
/// tool by that name when the call is made (so a tool that vanished since
/// the run started is reported as such).
pub struct McpTool {
    server: Arc<McpServer>,
    exposed: String,
    idempotent: bool,
    /// How the server described the tool when the run's grants were made;
    /// `None` for a resumed run, whose grants come from its recorded policy
    /// without contacting the server.
    spec: Option<ToolSpec>,
}

impl McpTool {
    /// The tool `exposed` of `server`, as listed (`tool`), or — `None` — as
    /// recorded in a run's policy.
    pub fn new(
        server: Arc<McpServer>,
        exposed: &str,
        tool: Option<&rmcp::model::Tool>,
        idempotent: bool,
    ) -> McpTool {
        McpTool {
            spec: tool.map(|t| spec_of(exposed, t)),
            server,
            exposed: exposed.to_string(),
            idempotent,
        }
    }
}

/// A listed tool as a model sees it.
fn spec_of(exposed: &str, tool: &rmcp::model::Tool) -> ToolSpec {
    let description = match (&tool.title, &tool.description) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.clone(),
        (None, None) => String::new(),
    };
    ToolSpec {
        name: exposed.to_string(),
        description,
        parameters: serde_json::to_string(&*tool.input_schema).expect("schemas serialise"),
    }
}

impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        if let Some(spec) = &self.spec {
            return spec.clone();
        }
        let known = self.server.known();
        match known
            .as_ref()
            .and_then(|l| l.find(self.server.name(), &self.exposed))
        {
            Some(tool) => spec_of(&self.exposed, tool),
            None => ToolSpec {
                name: self.exposed.clone(),
                description: format!(
                    "(a tool of the MCP server `{}`, not reachable now)",
                    self.server.name()
                ),
                parameters: r#"{"type":"object"}"#.into(),
            },
        }
    }

    fn idempotent(&self) -> bool {
        self.idempotent
    }

    fn prepare(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.spec.is_none()
                && let Err(e) = self.server.tools().await
            {
                eprintln!("relive: warning: {e}");
            }
        })
    }

    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let arguments = match serde_json::from_str::<serde_json::Value>(arguments) {
                Ok(serde_json::Value::Object(map)) => Some(map),
                Ok(serde_json::Value::Null) => None,
                Ok(other) => {
                    return Err(ToolError::InvalidArguments(format!(
                        "the arguments of MCP tool `{}` must be a JSON object, not {}",
                        self.exposed,
                        crate::tools::shorten(&other.to_string(), 100)
                    )));
                }
                Err(e) => return Err(ToolError::InvalidArguments(e.to_string())),
            };
            let (answer, tool) = self
                .server
                .call(
                    &self.exposed,
                    arguments,
                    &ctx.idempotency_key,
                    self.idempotent,
                )
                .await
                .map_err(|e| ToolError::Failed(e.to_string()))?;
            result::to_result(self.server.name(), &tool, answer, ctx.max_result_bytes)
        })
    }
}
