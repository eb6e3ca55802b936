//! LLM providers: the one place where relive talks to language models.
//!
//! The guest sees the WIT types of `relive:agent/llm`; the host converts them
//! into the serde types below, which are also what the journal stores. A
//! [`Provider`] turns a [`ChatRequest`] into a [`ChatResponse`] — live only:
//! recording and replaying are done once, by the replay engine, around every
//! provider alike.

pub mod openai;
pub mod scripted;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so providers can live behind `dyn Provider`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who wrote a message.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call requested by the model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as a JSON document.
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A tool offered to the model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments object, as a JSON document.
    pub parameters: String,
}

/// What the guest asked the model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The operator's name for the model (a key of `[models]` in relive.toml);
    /// `None` selects the agent's default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// Why the model stopped.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    ToolCalls,
    Length,
    Other,
}

/// Tokens used by one call.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// The model's answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChatResponse {
    pub message: Message,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// The model that answered, as reported by the provider.
    pub model: String,
}

/// A failed call, as the guest sees it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum LlmError {
    /// The agent may not use the model, or none is configured.
    #[error("denied: {0}")]
    Denied(String),
    /// The provider rejected the request (4xx) or the answer was malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The provider could not be reached or kept failing.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Something that happens during a call, reported as it happens (not
/// journaled as such: the journal records the final result, and the failed
/// attempts as metadata of the entry).
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    /// A piece of the answer's text, as the provider streams it.
    Token(String),
    /// Attempt number `attempt` (from 1) failed with `error`; the next one
    /// starts after `retry_in`.
    Retrying {
        attempt: u32,
        error: LlmError,
        retry_in: std::time::Duration,
    },
}

/// Receives [`ProviderEvent`]s.
pub type EventSink = std::sync::Arc<dyn Fn(ProviderEvent) + Send + Sync>;

/// Where a call sits in its run; providers use it for idempotency keys and
/// (the scripted provider) to pick the reply.
#[derive(Clone)]
pub struct CallContext {
    pub run_id: String,
    /// Journal position of this call.
    pub seq: u64,
    /// How many LLM calls this run made before this one (0 for the first).
    pub call_index: u64,
    /// Identical each time the same call is re-issued after a crash.
    pub idempotency_key: String,
    /// Where streamed tokens and retries are reported, if anywhere.
    pub events: Option<EventSink>,
}

impl CallContext {
    /// Reports `event` to the sink, if there is one.
    pub fn emit(&self, event: ProviderEvent) {
        if let Some(sink) = &self.events {
            sink(event);
        }
    }
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("run_id", &self.run_id)
            .field("seq", &self.seq)
            .field("call_index", &self.call_index)
            .field("idempotency_key", &self.idempotency_key)
            .field("events", &self.events.as_ref().map(|_| "<sink>"))
            .finish()
    }
}

/// A configured language model, live.
pub trait Provider: Send + Sync {
    /// Sends `request` to the model and returns its answer.
    fn chat<'a>(
        &'a self,
        ctx: &'a CallContext,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>>;
}
