//! A client for OpenAI-compatible chat completions, the one protocol spoken by
//! OpenAI, Ollama, vLLM, the llama.cpp server and LM Studio.
//!
//! One HTTP request is one attempt ([`OpenAiProvider::attempt`]); the
//! provider wraps it in [`retry::with_retries`]. By default the answer is
//! requested as a stream (`stream: true`, usage included): text pieces are
//! reported as [`ProviderEvent::Token`]s as they arrive, tool calls are
//! assembled from their pieces, and the completed message is returned. A
//! server that ignores `stream` and answers whole is understood too, and
//! `stream = false` in relive.toml does not ask for a stream at all. Every
//! request carries the call's idempotency key. The API key never appears in
//! an error or in `Debug` output.

use super::http::{self, Auth, Endpoint, HttpSettings, SseReader};
use super::retry::{self, AttemptError, RetryPolicy};
use super::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider,
    ProviderEvent, Role, ToolCall, ToolSpec, Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};

pub use super::http::MAX_RESPONSE_BYTES;

/// An OpenAI-compatible chat-completions endpoint.
#[derive(Clone, Debug)]
pub struct OpenAiProvider {
    endpoint: Endpoint,
    model: String,
    retry: RetryPolicy,
    stream: bool,
    max_tokens: Option<u32>,
}

impl OpenAiProvider {
    /// A provider that POSTs to `{base_url}/chat/completions` (e.g.
    /// `http://127.0.0.1:11434/v1` for Ollama), sending the API key, if any,
    /// as a bearer token. Redirects are not followed.
    ///
    /// # Panics
    ///
    /// If the TLS backend cannot be initialised, like `reqwest::Client::new`.
    pub fn new(settings: HttpSettings) -> Self {
        let url = format!(
            "{}/chat/completions",
            settings.base_url.trim_end_matches('/')
        );
        let hint = "; check `base_url` (it usually ends in /v1) and `model` in relive.toml";
        OpenAiProvider {
            endpoint: Endpoint::new(url, settings.api_key, Auth::Bearer, settings.timeout, hint),
            model: settings.model,
            retry: settings.retry,
            stream: settings.stream,
            max_tokens: settings.max_tokens,
        }
    }

    /// The JSON body for `request`; an invalid tool schema or a tool message
    /// without `tool_call_id` is an [`LlmError::InvalidRequest`].
    pub fn request_body(&self, request: &ChatRequest) -> Result<Value, LlmError> {
        let messages = request.messages.iter().enumerate().map(wire_message);
        let messages: Vec<Value> = messages.collect::<Result<_, _>>()?;
        let mut body = json!({ "model": self.model, "messages": messages });
        if !request.tools.is_empty() {
            let tools = request.tools.iter().map(wire_tool);
            body["tools"] = Value::Array(tools.collect::<Result<_, _>>()?);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = http::temperature(t);
        }
        if let Some(n) = request.max_tokens.or(self.max_tokens) {
            body["max_tokens"] = json!(n);
        }
        if self.stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({ "include_usage": true });
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
        match self
            .endpoint
            .exchange(self.endpoint.post(ctx, body))
            .await?
        {
            http::Reply::Stream(events) => self.read_stream(ctx, *events).await,
            http::Reply::Whole(text) => {
                let answer = self.parse_response(ctx, &text)?;
                http::emit_whole(ctx, self.stream, &answer);
                Ok(answer)
            }
        }
    }

    fn parse_response(&self, ctx: &CallContext, text: &str) -> Result<ChatResponse, LlmError> {
        let malformed = |why: &str| self.endpoint.malformed(why, text);
        let wire: WireResponse =
            serde_json::from_str(text).map_err(|e| malformed(&e.to_string()))?;
        let Some(choice) = wire.choices.into_iter().next() else {
            return Err(malformed("no choices"));
        };
        let call_index = ctx.call_index;
        let tool_call = |(n, call): (usize, WireToolCall)| ToolCall {
            id: call.id.unwrap_or_else(|| format!("call_{call_index}_{n}")),
            name: call.function.name,
            arguments: arguments_text(call.function.arguments),
        };
        let calls = choice.message.tool_calls.unwrap_or_default();
        let usage = wire.usage.unwrap_or_default();
        Ok(ChatResponse {
            message: Message {
                role: Role::Assistant,
                content: choice.message.content.unwrap_or_default(),
                tool_calls: calls.into_iter().enumerate().map(tool_call).collect(),
                tool_call_id: None,
            },
            finish_reason: finish_reason(choice.finish_reason.as_deref()),
            usage: usage.into(),
            model: wire.model.unwrap_or_else(|| self.model.clone()),
        })
    }

    /// Assembles a streamed answer, reporting its text as it arrives.
    async fn read_stream(
        &self,
        ctx: &CallContext,
        mut events: SseReader<'_>,
    ) -> Result<ChatResponse, AttemptError> {
        let mut answer = StreamedAnswer::default();
        while let Some(event) = events.next().await? {
            if event.data.trim() == "[DONE]" {
                break;
            }
            answer.apply(ctx, &self.endpoint, &event.data)?;
        }
        answer.finish(ctx, &self.endpoint, &self.model)
    }
}

impl Provider for OpenAiProvider {
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

/// A streamed answer, piece by piece.
#[derive(Default)]
struct StreamedAnswer {
    model: Option<String>,
    content: String,
    /// Tool calls by their `index`.
    calls: Vec<PartialCall>,
    finish_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

impl StreamedAnswer {
    /// Applies one `data:` chunk.
    fn apply(
        &mut self,
        ctx: &CallContext,
        endpoint: &Endpoint,
        data: &str,
    ) -> Result<(), AttemptError> {
        let chunk: WireChunk = serde_json::from_str(data)
            .map_err(|e| endpoint.malformed_event(&e.to_string(), data))?;
        if let Some(error) = chunk.error {
            // The server failed after it had started answering.
            let said = error
                .get("message")
                .and_then(Value::as_str)
                .or(error.as_str());
            let said = said.map_or_else(|| http::excerpt(data), str::to_string);
            let message = endpoint.redact(&format!("{} failed mid-stream: {said}", endpoint.url()));
            return Err(AttemptError::retryable(LlmError::Unavailable(message)));
        }
        if chunk.model.is_some() {
            self.model = chunk.model;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let mut choices = chunk.choices.unwrap_or_default().into_iter();
        let Some(choice) = choices.find(|c| c.index.unwrap_or(0) == 0) else {
            return Ok(());
        };
        if let Some(delta) = choice.delta {
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                ctx.emit(ProviderEvent::Token(text.clone()));
                self.content.push_str(&text);
            }
            for (position, piece) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let index = piece.index.unwrap_or(position);
                if index >= self.calls.len() {
                    if index > self.calls.len() + 128 {
                        return Err(endpoint.malformed_event("tool call index out of range", data));
                    }
                    self.calls.resize_with(index + 1, PartialCall::default);
                }
                let call = &mut self.calls[index];
                if piece.id.is_some() {
                    call.id = piece.id;
                }
                let function = piece.function.unwrap_or_default();
                if let Some(name) = function.name.filter(|_| call.name.is_empty()) {
                    call.name = name;
                }
                match function.arguments {
                    Value::String(s) => call.arguments.push_str(&s),
                    Value::Null => {}
                    other => call.arguments.push_str(&other.to_string()),
                }
            }
        }
        if choice.finish_reason.is_some() {
            self.finish_reason = choice.finish_reason;
        }
        Ok(())
    }

    /// The completed answer; a stream that ended without a finish reason
    /// was cut short.
    fn finish(
        self,
        ctx: &CallContext,
        endpoint: &Endpoint,
        model: &str,
    ) -> Result<ChatResponse, AttemptError> {
        let Some(finish) = self.finish_reason else {
            return Err(endpoint.incomplete("finish_reason"));
        };
        let call_index = ctx.call_index;
        let calls = self
            .calls
            .into_iter()
            .enumerate()
            .filter(|(_, c)| !c.name.is_empty());
        let tool_calls = calls.map(|(n, call)| ToolCall {
            id: call.id.unwrap_or_else(|| format!("call_{call_index}_{n}")),
            name: call.name,
            arguments: if call.arguments.trim().is_empty() {
                "{}".to_string()
            } else {
                call.arguments
            },
        });
        Ok(ChatResponse {
            message: Message {
                role: Role::Assistant,
                content: self.content,
                tool_calls: tool_calls.collect(),
                tool_call_id: None,
            },
            finish_reason: finish_reason(Some(&finish)),
            usage: self.usage.unwrap_or_default().into(),
            model: self.model.unwrap_or_else(|| model.to_string()),
        })
    }
}

fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("stop") => FinishReason::Stop,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("length") => FinishReason::Length,
        _ => FinishReason::Other,
    }
}

/// Tool-call arguments as a JSON document: servers send a string, or
/// (some) the object itself.
fn arguments_text(arguments: Value) -> String {
    match arguments {
        Value::String(s) => s,
        Value::Null => "{}".to_string(),
        other => other.to_string(),
    }
}

fn wire_tool(tool: &ToolSpec) -> Result<Value, LlmError> {
    let parameters = http::tool_schema(tool)?;
    Ok(json!({ "type": "function", "function": {
        "name": tool.name, "description": tool.description, "parameters": parameters } }))
}

fn wire_message((index, m): (usize, &Message)) -> Result<Value, LlmError> {
    let mut out = json!({ "role": m.role, "content": m.content });
    match m.role {
        Role::Assistant if !m.tool_calls.is_empty() => {
            if m.content.is_empty() {
                out["content"] = Value::Null;
            }
            let call = |c: &ToolCall| {
                json!({ "id": c.id, "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments } })
            };
            let calls = m.tool_calls.iter().map(call).collect();
            out["tool_calls"] = Value::Array(calls);
        }
        Role::Tool => match &m.tool_call_id {
            Some(id) => out["tool_call_id"] = json!(id),
            None => {
                return Err(LlmError::InvalidRequest(format!(
                    "message #{index} has role tool but no tool_call_id; set it to the id of the tool call it answers"
                )));
            }
        },
        _ => {}
    }
    Ok(out)
}

#[derive(Deserialize)]
struct WireResponse {
    choices: Vec<WireChoice>,
    model: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    /// A JSON document as a string; some servers send the object itself.
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Usage {
        Usage {
            input_tokens: http::tokens(usage.prompt_tokens),
            output_tokens: http::tokens(usage.completion_tokens),
        }
    }
}

/// One `data:` chunk of a stream.
#[derive(Deserialize)]
struct WireChunk {
    choices: Option<Vec<WireChunkChoice>>,
    model: Option<String>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    index: Option<u32>,
    delta: Option<WireDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    content: Option<String>,
    tool_calls: Option<Vec<WireCallPiece>>,
}

#[derive(Deserialize)]
struct WireCallPiece {
    index: Option<usize>,
    id: Option<String>,
    function: Option<WireFunctionPiece>,
}

#[derive(Deserialize, Default)]
struct WireFunctionPiece {
    name: Option<String>,
    #[serde(default)]
    arguments: Value,
}

#[cfg(test)]
mod tests;
