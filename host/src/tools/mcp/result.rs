//! An MCP tool's answer as the agent sees it, checked.
//!
//! The agent gets JSON, as from every relive tool:
//! - the result's `structuredContent`, when the tool gave one;
//! - else, when every content block is text, the text as a JSON string
//!   (blocks joined by a newline);
//! - else the content blocks themselves: `{"content": [...]}`, in MCP's
//!   form (images and audio as base64, resources as links or embedded).
//!
//! A result the tool marks as an error (`isError`) is the tool's failure.
//! A result over the run's `max_call_bytes`, or whose structured content
//! does not match the output schema the tool declared, is a failure that
//! says so: the server broke its word, the agent should not trust it.

use super::schema;
use crate::tools::{ToolError, shorten};
use rmcp::model::{CallToolResult, Tool};
use serde_json::Value;

/// Characters of a failed tool's message quoted in the error.
const QUOTED_CHARS: usize = 2000;

/// The relive result of `answer`, a call of `tool` of `server`.
pub(super) fn to_result(
    server: &str,
    tool: &Tool,
    answer: CallToolResult,
    max_bytes: usize,
) -> Result<String, ToolError> {
    let name = tool.name.as_ref();
    if answer.is_error == Some(true) {
        let text = texts(&answer)
            .unwrap_or_else(|| serde_json::to_string(&answer.content).unwrap_or_default());
        return Err(ToolError::Failed(format!(
            "tool `{name}` of MCP server `{server}` failed: {}",
            shorten(&text, QUOTED_CHARS)
        )));
    }
    if let Some(output_schema) = &tool.output_schema {
        let schema = Value::Object((**output_schema).clone());
        let checked = match &answer.structured_content {
            Some(content) => schema::check(&schema, content, ""),
            None => Err("it gave no structuredContent".to_string()),
        };
        if let Err(why) = checked {
            return Err(ToolError::Failed(format!(
                "tool `{name}` of MCP server `{server}` answered against its own output schema: {why}; the server is at fault (report it to its authors), or leave the tool out with `allow`"
            )));
        }
    }
    let json = match (&answer.structured_content, texts(&answer)) {
        (Some(structured), _) => structured.to_string(),
        (None, Some(text)) => Value::String(text).to_string(),
        (None, None) => serde_json::json!({ "content": answer.content }).to_string(),
    };
    if json.len() > max_bytes {
        return Err(ToolError::Failed(format!(
            "tool `{name}` of MCP server `{server}` returned {} bytes, over the limit of {max_bytes} bytes per host call; raise `max_call_bytes` under [limits] (or [agents.NAME.limits]) in relive.toml, or ask the tool for less",
            json.len()
        )));
    }
    Ok(json)
}

/// The text of `answer` when every block is text (`None` otherwise, or
/// when it has no blocks).
fn texts(answer: &CallToolResult) -> Option<String> {
    if answer.content.is_empty() {
        return None;
    }
    let texts: Option<Vec<&str>> = answer
        .content
        .iter()
        .map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    texts.map(|t| t.join("\n"))
}
