//! Chat with the language model the operator configured for this agent.
//!
//! The agent never sees an API key or a provider: it names a model granted to
//! it (or none, for its default) and the host does the rest — retries,
//! timeouts, token accounting. Every call is journaled, so after a crash a
//! replayed run gets the recorded answer without calling the model again.
//!
//! ```no_run
//! use relive_sdk::llm::{self, ChatRequest, Message};
//!
//! let request = ChatRequest::new(vec![
//!     Message::system("Answer in one sentence."),
//!     Message::user("What is durable execution?"),
//! ])
//! .temperature(0.2);
//! match llm::chat(&request) {
//!     Ok(response) => println!("{}", response.message.content),
//!     Err(e) => eprintln!("{}", e.describe()),
//! }
//! ```

pub use crate::bindings::relive::agent::llm::{
    ChatRequest, ChatResponse, FinishReason, LlmError, Usage,
};
pub use crate::bindings::relive::agent::types::{Message, Role, ToolCall, ToolSpec};

/// Sends `request` to the model and returns its answer.
///
/// When the answer asks for tool calls, they are in
/// `response.message.tool_calls`; run them (see [`crate::tools`]) and send the
/// results back as [`Message::tool_result`] messages, or let
/// [`AgentLoop`](crate::AgentLoop) do it.
pub fn chat(request: &ChatRequest) -> Result<ChatResponse, LlmError> {
    crate::bindings::relive::agent::llm::chat(request)
}

/// Sends several requests at once: the host runs them concurrently and
/// journals them in the order given. One answer per request, in order.
pub fn chat_batch(requests: &[ChatRequest]) -> Vec<Result<ChatResponse, LlmError>> {
    crate::bindings::relive::agent::llm::chat_batch(requests)
}

impl Message {
    fn plain(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A `system` message: instructions for the model.
    pub fn system(content: impl Into<String>) -> Message {
        Message::plain(Role::System, content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Message {
        Message::plain(Role::User, content)
    }

    /// An `assistant` message without tool calls (e.g. an earlier answer of
    /// the model, when building a conversation by hand).
    pub fn assistant(content: impl Into<String>) -> Message {
        Message::plain(Role::Assistant, content)
    }

    /// A `tool` message carrying the result of the tool call `call_id`
    /// (the [`ToolCall::id`] chosen by the model).
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Message {
        Message {
            tool_call_id: Some(call_id.into()),
            ..Message::plain(Role::Tool, content)
        }
    }
}

impl ChatRequest {
    /// A request for the agent's default model, with no tools and the
    /// provider's default sampling settings.
    pub fn new(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            model: None,
            messages,
            tools: Vec::new(),
            temperature: None,
            max_tokens: None,
        }
    }

    /// Uses the model `name` (one the operator granted to this agent) instead
    /// of the agent's default.
    pub fn model(mut self, name: impl Into<String>) -> ChatRequest {
        self.model = Some(name.into());
        self
    }

    /// Offers `tools` to the model.
    pub fn tools(mut self, tools: Vec<ToolSpec>) -> ChatRequest {
        self.tools = tools;
        self
    }

    /// Sets the sampling temperature.
    pub fn temperature(mut self, temperature: f32) -> ChatRequest {
        self.temperature = Some(temperature);
        self
    }

    /// Caps the length of the answer, in tokens.
    pub fn max_tokens(mut self, max_tokens: u32) -> ChatRequest {
        self.max_tokens = Some(max_tokens);
        self
    }
}

impl LlmError {
    /// The message the host attached to the error.
    pub fn message(&self) -> &str {
        match self {
            LlmError::Denied(m) | LlmError::InvalidRequest(m) | LlmError::Unavailable(m) => m,
        }
    }

    /// A one-line description for people, e.g. `model unavailable: timeout`.
    ///
    /// (The generated `Display` prints the debug form.)
    pub fn describe(&self) -> String {
        let kind = match self {
            LlmError::Denied(_) => "model denied",
            LlmError::InvalidRequest(_) => "invalid request",
            LlmError::Unavailable(_) => "model unavailable",
        };
        format!("{kind}: {}", self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_role_and_content() {
        assert_eq!(Message::system("s").role, Role::System);
        assert_eq!(Message::user("u").role, Role::User);
        let a = Message::assistant("a");
        assert_eq!((a.role, a.content.as_str()), (Role::Assistant, "a"));
        assert!(a.tool_calls.is_empty() && a.tool_call_id.is_none());
    }

    #[test]
    fn tool_result_names_the_call() {
        let m = Message::tool_result("call_1", "{\"ok\":true}");
        assert_eq!(m.role, Role::Tool);
        assert_eq!(m.tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(m.content, "{\"ok\":true}");
    }

    #[test]
    fn request_builder_sets_every_field() {
        let spec = ToolSpec {
            name: "search".into(),
            description: "d".into(),
            parameters: "{}".into(),
        };
        let r = ChatRequest::new(vec![Message::user("hi")])
            .model("scripted")
            .tools(vec![spec.clone()])
            .temperature(0.5)
            .max_tokens(100);
        assert_eq!(r.model.as_deref(), Some("scripted"));
        assert_eq!(r.messages, vec![Message::user("hi")]);
        assert_eq!(r.tools, vec![spec]);
        assert_eq!((r.temperature, r.max_tokens), (Some(0.5), Some(100)));
    }

    #[test]
    fn errors_describe_themselves() {
        let e = LlmError::Unavailable("timeout".into());
        assert_eq!(e.message(), "timeout");
        assert_eq!(e.describe(), "model unavailable: timeout");
    }
}
