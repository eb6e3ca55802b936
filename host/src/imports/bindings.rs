//! Generated bindings of the `relive:agent` world and conversions between
//! its WIT types and the serde types that the journal stores.
//!
//! The journal never stores generated types directly, so regenerating the
//! bindings cannot change what recorded journals mean.

use crate::llm;
use crate::tools::ToolError;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "agent",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::relive::agent::{
    agents as wit_agents, approval as wit_approval, llm as wit_llm, log as wit_log,
    patches as wit_patches, signals as wit_signals, timers as wit_timers, tools as wit_tools,
    types as wit_types,
};

impl From<wit_types::Role> for llm::Role {
    fn from(r: wit_types::Role) -> Self {
        match r {
            wit_types::Role::System => llm::Role::System,
            wit_types::Role::User => llm::Role::User,
            wit_types::Role::Assistant => llm::Role::Assistant,
            wit_types::Role::Tool => llm::Role::Tool,
        }
    }
}

impl From<llm::Role> for wit_types::Role {
    fn from(r: llm::Role) -> Self {
        match r {
            llm::Role::System => wit_types::Role::System,
            llm::Role::User => wit_types::Role::User,
            llm::Role::Assistant => wit_types::Role::Assistant,
            llm::Role::Tool => wit_types::Role::Tool,
        }
    }
}

impl From<wit_types::ToolCall> for llm::ToolCall {
    fn from(c: wit_types::ToolCall) -> Self {
        llm::ToolCall {
            id: c.id,
            name: c.name,
            arguments: c.arguments,
        }
    }
}

impl From<llm::ToolCall> for wit_types::ToolCall {
    fn from(c: llm::ToolCall) -> Self {
        wit_types::ToolCall {
            id: c.id,
            name: c.name,
            arguments: c.arguments,
        }
    }
}

impl From<wit_types::Message> for llm::Message {
    fn from(m: wit_types::Message) -> Self {
        llm::Message {
            role: m.role.into(),
            content: m.content,
            tool_calls: m.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: m.tool_call_id,
        }
    }
}

impl From<llm::Message> for wit_types::Message {
    fn from(m: llm::Message) -> Self {
        wit_types::Message {
            role: m.role.into(),
            content: m.content,
            tool_calls: m.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: m.tool_call_id,
        }
    }
}

impl From<wit_types::ToolSpec> for llm::ToolSpec {
    fn from(s: wit_types::ToolSpec) -> Self {
        llm::ToolSpec {
            name: s.name,
            description: s.description,
            parameters: s.parameters,
        }
    }
}

impl From<llm::ToolSpec> for wit_types::ToolSpec {
    fn from(s: llm::ToolSpec) -> Self {
        wit_types::ToolSpec {
            name: s.name,
            description: s.description,
            parameters: s.parameters,
        }
    }
}

impl From<wit_llm::ChatRequest> for llm::ChatRequest {
    fn from(r: wit_llm::ChatRequest) -> Self {
        llm::ChatRequest {
            model: r.model,
            messages: r.messages.into_iter().map(Into::into).collect(),
            tools: r.tools.into_iter().map(Into::into).collect(),
            temperature: r.temperature,
            max_tokens: r.max_tokens,
        }
    }
}

impl From<llm::ChatResponse> for wit_llm::ChatResponse {
    fn from(r: llm::ChatResponse) -> Self {
        wit_llm::ChatResponse {
            message: r.message.into(),
            finish_reason: match r.finish_reason {
                llm::FinishReason::Stop => wit_llm::FinishReason::Stop,
                llm::FinishReason::ToolCalls => wit_llm::FinishReason::ToolCalls,
                llm::FinishReason::Length => wit_llm::FinishReason::Length,
                llm::FinishReason::Other => wit_llm::FinishReason::Other,
            },
            usage: wit_llm::Usage {
                input_tokens: r.usage.input_tokens,
                output_tokens: r.usage.output_tokens,
            },
            model: r.model,
        }
    }
}

impl From<llm::LlmError> for wit_llm::LlmError {
    fn from(e: llm::LlmError) -> Self {
        match e {
            llm::LlmError::Denied(m) => wit_llm::LlmError::Denied(m),
            llm::LlmError::InvalidRequest(m) => wit_llm::LlmError::InvalidRequest(m),
            llm::LlmError::Unavailable(m) => wit_llm::LlmError::Unavailable(m),
        }
    }
}

impl From<ToolError> for wit_tools::ToolError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::NotFound(m) => wit_tools::ToolError::NotFound(m),
            ToolError::InvalidArguments(m) => wit_tools::ToolError::InvalidArguments(m),
            ToolError::Failed(m) => wit_tools::ToolError::Failed(m),
        }
    }
}

impl wit_log::Level {
    pub fn as_str(self) -> &'static str {
        match self {
            wit_log::Level::Trace => "trace",
            wit_log::Level::Debug => "debug",
            wit_log::Level::Info => "info",
            wit_log::Level::Warn => "warn",
            wit_log::Level::Error => "error",
        }
    }
}
