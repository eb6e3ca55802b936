//! A client for Anthropic's Messages API, mapped onto the same WIT types as
//! every other provider.
//!
//! The mapping: system messages become the top-level `system` prompt; an
//! assistant's tool calls become `tool_use` blocks (their arguments parsed
//! into the `input` object); tool results become `tool_result` blocks of a
//! user message (consecutive results share one); tools are sent as
//! `{name, description, input_schema}`. In the answer, text blocks make the
//! content and `tool_use` blocks the tool calls (arguments as compact JSON);
//! `stop_reason` maps to the finish reason. `max_tokens`, which the API
//! requires, defaults to [`DEFAULT_MAX_TOKENS`].
//!
//! Like the OpenAI client, one HTTP request is one attempt, wrapped in
//! [`retry::with_retries`] (529 "overloaded" included), streamed by default
//! with text reported as [`ProviderEvent::Token`]s, and carries the call's
//! idempotency key; the key goes in `x-api-key` and never into an error.

use super::http::{self, Auth, Endpoint, HttpSettings, SseReader};
use super::retry::{self, AttemptError, RetryPolicy};
use super::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider,
    ProviderEvent, Role, ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Where the Messages API lives when `base_url` is absent.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version every request names.
pub const API_VERSION: &str = "2023-06-01";
/// The answer's token limit when neither the request nor relive.toml sets one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// An Anthropic Messages API endpoint.
#[derive(Clone, Debug)]
pub struct AnthropicProvider {
    endpoint: Endpoint,
    model: String,
    retry: RetryPolicy,
    stream: bool,
    max_tokens: u32,
}

impl AnthropicProvider {
    /// A provider that POSTs to `{base_url}/v1/messages` (a `base_url` that
    /// already ends in `/v1` is accepted too). Redirects are not followed.
    ///
    /// # Panics
    ///
    /// If the TLS backend cannot be initialised, like `reqwest::Client::new`.
    pub fn new(settings: HttpSettings) -> Self {
        let base = settings.base_url.trim_end_matches('/');
        let url = format!("{}/v1/messages", base.strip_suffix("/v1").unwrap_or(base));
        let hint = "; check `model` and `base_url` (e.g. https://api.anthropic.com) in relive.toml";
        let auth = Auth::Header("x-api-key");
        AnthropicProvider {
            endpoint: Endpoint::new(url, settings.api_key, auth, settings.timeout, hint),
            model: settings.model,
            retry: settings.retry,
            stream: settings.stream,
            max_tokens: settings.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        }
    }

    /// The JSON body for `request`; an invalid tool schema, tool-call
    /// arguments that are not a JSON object, or a tool message without
    /// `tool_call_id` is an [`LlmError::InvalidRequest`].
    pub fn request_body(&self, request: &ChatRequest) -> Result<Value, LlmError> {
        let mut system: Vec<&str> = Vec::new();
        let mut messages: Vec<Value> = Vec::new();
        for (index, m) in request.messages.iter().enumerate() {
            match m.role {
                Role::System => system.push(&m.content),
                Role::User => match tool_results(&mut messages) {
                    // Text after tool results joins their message.
                    Some(blocks) => blocks.push(json!({ "type": "text", "text": m.content })),
                    None => messages.push(json!({ "role": "user", "content": m.content })),
                },
                Role::Assistant => messages.push(assistant_message(index, m)?),
                Role::Tool => {
                    let Some(id) = &m.tool_call_id else {
                        return Err(LlmError::InvalidRequest(format!(
                            "message #{index} has role tool but no tool_call_id; set it to the id of the tool call it answers"
                        )));
                    };
                    let mut block = json!({ "type": "tool_result", "tool_use_id": id });
                    if !m.content.is_empty() {
                        block["content"] = json!(m.content);
                    }
                    match tool_results(&mut messages) {
                        Some(blocks) => blocks.push(block),
                        None => messages.push(json!({ "role": "user", "content": [block] })),
                    }
                }
            }
        }
        let max_tokens = request.max_tokens.unwrap_or(self.max_tokens);
        let mut body = json!({ "model": self.model, "max_tokens": max_tokens });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        body["messages"] = Value::Array(messages);
        if !request.tools.is_empty() {
            let tool = |t: &super::ToolSpec| -> Result<Value, LlmError> {
                let schema = http::tool_schema(t)?;
                Ok(json!({ "name": t.name, "description": t.description, "input_schema": schema }))
            };
            body["tools"] = Value::Array(request.tools.iter().map(tool).collect::<Result<_, _>>()?);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = http::temperature(t);
        }
        if self.stream {
            body["stream"] = json!(true);
        }
        Ok(body)
    }

    /// Sends `body` once, without retrying; the error says whether sending
    /// it again may succeed.
    pub async fn attempt(
        &self,
        ctx: &CallContext,
        body: &Value,
    ) -> Result<ChatResponse, AttemptError> {
        let request = self
            .endpoint
            .post(ctx, body)
            .header("anthropic-version", API_VERSION);
        match self.endpoint.exchange(request).await? {
            http::Reply::Stream(events) => self.read_stream(ctx, *events).await,
            http::Reply::Whole(text) => {
                let answer = self.parse_response(ctx, &text)?;
                http::emit_whole(ctx, self.stream, &answer);
                Ok(answer)
            }
        }
    }

    fn parse_response(&self, ctx: &CallContext, text: &str) -> Result<ChatResponse, AttemptError> {
        let malformed = |why: &str| AttemptError::fatal(self.endpoint.malformed(why, text));
        let value: Value = serde_json::from_str(text).map_err(|e| malformed(&e.to_string()))?;
        if value["type"] == "error" {
            return Err(self.error_event(&value, text));
        }
        let wire: WireMessage =
            serde_json::from_value(value).map_err(|e| malformed(&e.to_string()))?;
        let mut answer = Assembled::default();
        for block in wire.content {
            match block {
                WireBlock::Text { text } => answer.content.push_str(&text),
                WireBlock::ToolUse { id, name, input } => {
                    let input = if input.is_null() { json!({}) } else { input };
                    answer.calls.push((id, name, input.to_string()));
                }
                WireBlock::Other => {}
            }
        }
        answer.usage = wire.usage.unwrap_or_default();
        answer.stop_reason = wire.stop_reason;
        answer.model = wire.model;
        Ok(answer.finish(ctx, &self.model))
    }

    /// Assembles a streamed answer, reporting its text as it arrives.
    async fn read_stream(
        &self,
        ctx: &CallContext,
        mut events: SseReader<'_>,
    ) -> Result<ChatResponse, AttemptError> {
        let mut stream = StreamedAnswer::default();
        while let Some(event) = events.next().await? {
            if stream.apply(ctx, self, &event.data)? {
                break;
            }
        }
        let Some(answer) = stream.finish(&self.endpoint)? else {
            return Err(self.endpoint.incomplete("stop_reason"));
        };
        Ok(answer.finish(ctx, &self.model))
    }

    /// An `{"type": "error", "error": {"type", "message"}}` document, in a
    /// body or in a stream: retryable when the API is overloaded or failed.
    fn error_event(&self, value: &Value, text: &str) -> AttemptError {
        let kind = value
            .pointer("/error/type")
            .and_then(Value::as_str)
            .unwrap_or("");
        let said = value.pointer("/error/message").and_then(Value::as_str);
        let said = said.map_or_else(|| http::excerpt(text), str::to_string);
        let message = self
            .endpoint
            .redact(&format!("{} reported {kind}: {said}", self.endpoint.url()));
        match kind {
            "overloaded_error" | "api_error" | "rate_limit_error" | "timeout_error" => {
                AttemptError::retryable(LlmError::Unavailable(message))
            }
            _ => AttemptError::fatal(LlmError::InvalidRequest(message)),
        }
    }
}

impl Provider for AnthropicProvider {
    fn chat<'a>(
        &'a self,
        ctx: &'a CallContext,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let body = self.request_body(request)?;
            retry::with_retries(&self.retry, ctx, |_| self.attempt(ctx, &body)).await
        })
    }
}

/// The blocks of the last message if it is a user message of tool results,
/// which further results (and text) join.
fn tool_results(messages: &mut [Value]) -> Option<&mut Vec<Value>> {
    let last = messages.last_mut()?;
    if last["role"] != "user" {
        return None;
    }
    let blocks = last["content"].as_array_mut()?;
    let only_results = blocks.iter().all(|b| b["type"] == "tool_result");
    only_results.then_some(blocks)
}

fn assistant_message(index: usize, m: &Message) -> Result<Value, LlmError> {
    if m.tool_calls.is_empty() {
        return Ok(json!({ "role": "assistant", "content": m.content }));
    }
    let mut blocks = Vec::new();
    if !m.content.is_empty() {
        blocks.push(json!({ "type": "text", "text": m.content }));
    }
    for call in &m.tool_calls {
        let input = if call.arguments.trim().is_empty() {
            json!({})
        } else {
            let why = match serde_json::from_str::<Value>(&call.arguments) {
                Ok(input) if input.is_object() => Ok(input),
                Ok(_) => Err("are not a JSON object".to_string()),
                Err(e) => Err(format!("are not JSON ({e})")),
            };
            why.map_err(|why| {
                LlmError::InvalidRequest(format!(
                    "message #{index}: the arguments of tool call `{}` {why}; Anthropic needs an object such as {{}}",
                    call.id
                ))
            })?
        };
        blocks
            .push(json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input }));
    }
    Ok(json!({ "role": "assistant", "content": blocks }))
}

/// The parts of an answer, from a body or a stream.
#[derive(Default)]
struct Assembled {
    model: Option<String>,
    content: String,
    /// (id, name, arguments as compact JSON)
    calls: Vec<(String, String, String)>,
    stop_reason: Option<String>,
    usage: WireUsage,
}

impl Assembled {
    fn finish(self, ctx: &CallContext, model: &str) -> ChatResponse {
        let call_index = ctx.call_index;
        let calls = self.calls.into_iter().enumerate();
        let tool_calls = calls.map(|(n, (id, name, arguments))| ToolCall {
            id: if id.is_empty() {
                format!("call_{call_index}_{n}")
            } else {
                id
            },
            name,
            arguments,
        });
        let finish_reason = match self.stop_reason.as_deref() {
            Some("end_turn" | "stop_sequence") => FinishReason::Stop,
            Some("tool_use") => FinishReason::ToolCalls,
            Some("max_tokens") => FinishReason::Length,
            _ => FinishReason::Other,
        };
        ChatResponse {
            message: Message {
                role: Role::Assistant,
                content: self.content,
                tool_calls: tool_calls.collect(),
                tool_call_id: None,
            },
            finish_reason,
            usage: self.usage.into(),
            model: self.model.unwrap_or_else(|| model.to_string()),
        }
    }
}

/// A streamed answer, event by event.
#[derive(Default)]
struct StreamedAnswer {
    model: Option<String>,
    /// Content blocks by their `index`.
    blocks: BTreeMap<u64, Block>,
    stop_reason: Option<String>,
    usage: WireUsage,
}

enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        /// The `input_json_delta` pieces so far, or the start's input.
        json: String,
    },
    /// Thinking and other blocks relive does not map.
    Other,
}

impl StreamedAnswer {
    /// Applies one event; `true` when the message is complete.
    fn apply(
        &mut self,
        ctx: &CallContext,
        provider: &AnthropicProvider,
        data: &str,
    ) -> Result<bool, AttemptError> {
        let endpoint = &provider.endpoint;
        let malformed = |why: &str| endpoint.malformed_event(why, data);
        let event: Value = serde_json::from_str(data).map_err(|e| malformed(&e.to_string()))?;
        let index = || {
            event["index"]
                .as_u64()
                .ok_or_else(|| malformed("no block index"))
        };
        match event["type"].as_str().unwrap_or("") {
            "message_start" => {
                let message = &event["message"];
                self.model = message["model"].as_str().map(String::from);
                self.usage.add(&message["usage"]);
            }
            "content_block_start" => {
                let start = &event["content_block"];
                let block = match start["type"].as_str() {
                    Some("text") => {
                        let text = start["text"].as_str().unwrap_or("").to_string();
                        if !text.is_empty() {
                            ctx.emit(ProviderEvent::Token(text.clone()));
                        }
                        Block::Text(text)
                    }
                    Some("tool_use") => Block::ToolUse {
                        id: start["id"].as_str().unwrap_or("").to_string(),
                        name: start["name"].as_str().unwrap_or("").to_string(),
                        json: match &start["input"] {
                            Value::Object(o) if !o.is_empty() => start["input"].to_string(),
                            _ => String::new(),
                        },
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index()?, block);
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                let block = self.blocks.get_mut(&index()?);
                match (block, delta["type"].as_str()) {
                    (Some(Block::Text(text)), Some("text_delta")) => {
                        let piece = delta["text"].as_str().ok_or_else(|| malformed("no text"))?;
                        if !piece.is_empty() {
                            ctx.emit(ProviderEvent::Token(piece.to_string()));
                            text.push_str(piece);
                        }
                    }
                    (Some(Block::ToolUse { json, .. }), Some("input_json_delta")) => {
                        let piece = delta["partial_json"].as_str();
                        json.push_str(piece.ok_or_else(|| malformed("no partial_json"))?);
                    }
                    (None, _) => return Err(malformed("a delta for a block that never started")),
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_string());
                }
                self.usage.add(&event["usage"]);
            }
            "message_stop" => return Ok(true),
            "error" => return Err(provider.error_event(&event, data)),
            // `ping`, `content_block_stop` and event types added later.
            _ => {}
        }
        Ok(false)
    }

    /// The assembled answer; `None` if the stream never said why it stopped.
    fn finish(self, endpoint: &Endpoint) -> Result<Option<Assembled>, AttemptError> {
        if self.stop_reason.is_none() {
            return Ok(None);
        }
        let mut answer = Assembled {
            model: self.model,
            stop_reason: self.stop_reason,
            usage: self.usage,
            ..Assembled::default()
        };
        for block in self.blocks.into_values() {
            match block {
                Block::Text(text) => answer.content.push_str(&text),
                Block::ToolUse { id, name, json } if json.trim().is_empty() => {
                    answer.calls.push((id, name, "{}".to_string()));
                }
                Block::ToolUse { id, name, json } => {
                    let input: Value = serde_json::from_str(&json).map_err(|e| {
                        endpoint.malformed_event(
                            &format!("the input of tool call `{id}` is not JSON: {e}"),
                            &json,
                        )
                    })?;
                    answer.calls.push((id, name, input.to_string()));
                }
                Block::Other => {}
            }
        }
        Ok(Some(answer))
    }
}

#[derive(Deserialize)]
struct WireMessage {
    model: Option<String>,
    #[serde(default)]
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

/// Token counts; cache reads and writes count as input.
#[derive(Deserialize, Default)]
struct WireUsage {
    input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl WireUsage {
    /// Takes the counts present in `usage` (a stream reports input tokens at
    /// the start and cumulative output tokens at the end).
    fn add(&mut self, usage: &Value) {
        let fields = [
            ("input_tokens", &mut self.input_tokens),
            (
                "cache_creation_input_tokens",
                &mut self.cache_creation_input_tokens,
            ),
            ("cache_read_input_tokens", &mut self.cache_read_input_tokens),
            ("output_tokens", &mut self.output_tokens),
        ];
        for (key, field) in fields {
            if let Some(n) = usage.get(key).and_then(Value::as_u64) {
                *field = Some(n);
            }
        }
    }
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Usage {
        let cached = [u.cache_creation_input_tokens, u.cache_read_input_tokens];
        let input = cached
            .into_iter()
            .flatten()
            .fold(u.input_tokens.unwrap_or(0), u64::saturating_add);
        Usage {
            input_tokens: http::tokens(Some(input)),
            output_tokens: http::tokens(u.output_tokens),
        }
    }
}

#[cfg(test)]
mod tests;
