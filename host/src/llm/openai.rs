//! A client for OpenAI-compatible chat completions, the one protocol spoken by
//! OpenAI, Ollama, vLLM, the llama.cpp server and LM Studio.
//!
//! One call is one HTTP request ([`OpenAiProvider::attempt`]); its errors are
//! classified so that a retry loop can wrap it: [`LlmError::Unavailable`]
//! (connection failure, timeout, 429, 5xx) is worth retrying, the other kinds
//! are not. Every request carries the call's idempotency key, so a server that
//! honours `Idempotency-Key` answers a call re-issued after a crash only once.
//! The API key never appears in an error or in `Debug` output.

use super::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider,
    Role, ToolCall, ToolSpec, Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// Longest response body read before giving up on a server (16 MiB).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How much of a response body an error message quotes, in characters.
const EXCERPT_CHARS: usize = 200;

/// An OpenAI-compatible chat-completions endpoint.
#[derive(Clone)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OpenAiProvider {
    /// A provider that POSTs to `{base_url}/chat/completions` (e.g.
    /// `http://127.0.0.1:11434/v1` for Ollama) asking for `model`, sending
    /// `api_key` as a bearer token when given, and giving up on a request
    /// after `timeout`. Redirects are not followed.
    ///
    /// # Panics
    ///
    /// If the TLS backend cannot be initialised, like `reqwest::Client::new`.
    pub fn new(
        base_url: String,
        model: String,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirected POST may silently become a GET or resend the call;
            // a wrong `base_url` is reported instead (see `status_error`).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("relive/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("cannot initialise the HTTP client's TLS backend");
        OpenAiProvider {
            client,
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model,
            api_key,
            timeout,
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
            // Through the shortest decimal, so 0.7f32 is sent as 0.7, not
            // 0.699999988079071.
            body["temperature"] = json!(t.to_string().parse::<f64>().unwrap_or(f64::from(t)));
        }
        if let Some(n) = request.max_tokens {
            body["max_tokens"] = json!(n);
        }
        Ok(body)
    }

    /// Sends `body` once, without retrying. [`LlmError::Unavailable`] means
    /// the same request may succeed if sent again.
    pub async fn attempt(&self, ctx: &CallContext, body: &Value) -> Result<ChatResponse, LlmError> {
        let mut builder = self
            .client
            .post(&self.endpoint)
            .header("Idempotency-Key", &ctx.idempotency_key)
            .json(body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let mut response = builder.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let mut bytes = Vec::new();
        let read_error = |e| self.transport_error(&e);
        while let Some(chunk) = response.chunk().await.map_err(read_error)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(LlmError::InvalidRequest(format!(
                    "{} sent a response body larger than {MAX_RESPONSE_BYTES} bytes",
                    self.endpoint
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&bytes);
        if status.is_success() {
            self.parse_response(ctx, &text)
        } else {
            Err(self.status_error(status, &text))
        }
    }

    fn parse_response(&self, ctx: &CallContext, text: &str) -> Result<ChatResponse, LlmError> {
        let malformed = |why: &str| {
            LlmError::InvalidRequest(self.redact(&format!(
                "{} answered with a malformed body ({why}): {}",
                self.endpoint,
                excerpt(text)
            )))
        };
        let wire: WireResponse =
            serde_json::from_str(text).map_err(|e| malformed(&e.to_string()))?;
        let Some(choice) = wire.choices.into_iter().next() else {
            return Err(malformed("no choices"));
        };
        let call_index = ctx.call_index;
        let tool_call = |(n, call): (usize, WireToolCall)| ToolCall {
            id: call.id.unwrap_or_else(|| format!("call_{call_index}_{n}")),
            name: call.function.name,
            arguments: match call.function.arguments {
                Value::String(s) => s,
                Value::Null => "{}".to_string(),
                other => other.to_string(),
            },
        };
        let calls = choice.message.tool_calls.unwrap_or_default();
        let tool_calls = calls.into_iter().enumerate().map(tool_call).collect();
        let finish_reason = match choice.finish_reason.as_deref() {
            Some("stop") => FinishReason::Stop,
            Some("tool_calls") => FinishReason::ToolCalls,
            Some("length") => FinishReason::Length,
            _ => FinishReason::Other,
        };
        let usage = wire.usage.unwrap_or_default();
        let tokens = |n: Option<u64>| u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX);
        Ok(ChatResponse {
            message: Message {
                role: Role::Assistant,
                content: choice.message.content.unwrap_or_default(),
                tool_calls,
                tool_call_id: None,
            },
            finish_reason,
            usage: Usage {
                input_tokens: tokens(usage.prompt_tokens),
                output_tokens: tokens(usage.completion_tokens),
            },
            model: wire.model.unwrap_or_else(|| self.model.clone()),
        })
    }

    /// A failure to send the request or to read the answer.
    fn transport_error(&self, e: &reqwest::Error) -> LlmError {
        let (endpoint, timeout, cause) = (&self.endpoint, self.timeout, root_cause(e));
        let message = if e.is_timeout() {
            format!(
                "{endpoint} did not answer within the timeout of {timeout:?}; raise `timeout_secs` of the model in relive.toml if the model is slow"
            )
        } else if e.is_connect() {
            format!(
                "cannot connect to {endpoint} ({cause}); is the server running and `base_url` right?"
            )
        } else if e.is_builder() {
            let message = format!(
                "cannot build a request to {endpoint} ({cause}); check `base_url` and the API key"
            );
            return LlmError::InvalidRequest(self.redact(&message));
        } else {
            format!("request to {endpoint} failed ({cause})")
        };
        LlmError::Unavailable(self.redact(&message))
    }

    /// A non-success HTTP status.
    fn status_error(&self, status: reqwest::StatusCode, text: &str) -> LlmError {
        let said = provider_message(text).unwrap_or_else(|| excerpt(text));
        let message = format!("{} answered {status}: {said}", self.endpoint);
        let hint = match status.as_u16() {
            401 | 403 => "; check the API key (the variable named by `api_key_env` in relive.toml)",
            404 => "; check `base_url` (it usually ends in /v1) and `model` in relive.toml",
            300..=399 => "; the server redirects elsewhere: point `base_url` at the final address",
            _ => "",
        };
        let message = self.redact(&format!("{message}{hint}"));
        // 408 and 429 are the client errors that sending again can cure.
        if matches!(status.as_u16(), 408 | 429) || status.is_server_error() {
            LlmError::Unavailable(message)
        } else {
            LlmError::InvalidRequest(message)
        }
    }

    /// `text` with every occurrence of the API key replaced, in case a server
    /// or a library quotes it back.
    fn redact(&self, text: &str) -> String {
        let key = self.api_key.as_deref().filter(|key| !key.is_empty());
        key.map_or_else(|| text.to_string(), |key| text.replace(key, "<redacted>"))
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
            self.attempt(ctx, &body).await
        })
    }
}

fn wire_tool(tool: &ToolSpec) -> Result<Value, LlmError> {
    let why = match serde_json::from_str::<Value>(&tool.parameters) {
        Ok(parameters) if parameters.is_object() => {
            return Ok(json!({ "type": "function", "function": {
                "name": tool.name, "description": tool.description, "parameters": parameters } }));
        }
        Ok(_) => "is not a JSON object".to_string(),
        Err(e) => format!("is not JSON ({e})"),
    };
    Err(LlmError::InvalidRequest(format!(
        "the parameters schema of tool `{}` {why}; it must be a JSON schema object such as {{\"type\": \"object\"}}",
        tool.name
    )))
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

/// The provider's own explanation in an error body: `error.message` (OpenAI,
/// Ollama), `error` as a string, or a top-level `message` (vLLM).
fn provider_message(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let message = v
        .pointer("/error/message")
        .or_else(|| v.get("error").filter(|e| e.is_string()))
        .or_else(|| v.get("message"))?
        .as_str()?;
    Some(shorten(message, 4 * EXCERPT_CHARS))
}

/// The start of a body, on one line, for an error message.
fn excerpt(text: &str) -> String {
    match shorten(text.trim(), EXCERPT_CHARS) {
        short if short.is_empty() => "(empty body)".to_string(),
        short => format!("`{short}`"),
    }
}

/// At most `max` characters of `text`, with control characters as spaces.
fn shorten(text: &str, max: usize) -> String {
    let mut chars = text.chars().map(|c| if c.is_control() { ' ' } else { c });
    let mut short: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        short.push('…');
    }
    short
}

/// The innermost cause of `e`, e.g. "Connection refused (os error 111)".
fn root_cause(e: &reqwest::Error) -> String {
    let chain = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source());
    chain.last().map(ToString::to_string).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Request;
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};

    const KEY: &str = "sk-test-secret-key";
    const SECS: Duration = Duration::from_secs(5);

    /// (path, headers, body) of every request a fake server received.
    type Seen = Arc<Mutex<Vec<(String, HeaderMap, Value)>>>;

    /// Starts a server that answers `replies` in order, each after `delay`;
    /// returns its base URL with a trailing slash, which the provider must
    /// strip.
    async fn serve(replies: &[(u16, &str)], delay: Duration) -> (String, Seen) {
        let replies: Vec<_> = replies.iter().map(|(s, b)| (*s, b.to_string())).collect();
        let (seen, replies) = (Seen::default(), Arc::new(Mutex::new(replies)));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let (log, replies) = (log.clone(), replies.clone());
            async move {
                tokio::time::sleep(delay).await;
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let path = parts.uri.path().to_string();
                log.lock().unwrap().push((path, parts.headers, body));
                let (status, text) = replies.lock().unwrap().remove(0);
                (StatusCode::from_u16(status).unwrap(), text)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/v1/"), seen)
    }

    fn provider(base_url: String, timeout: Duration) -> OpenAiProvider {
        OpenAiProvider::new(base_url, "llama3.2".into(), Some(KEY.into()), timeout)
    }

    fn ctx(call_index: u64) -> CallContext {
        let (run_id, idempotency_key) = ("r1".into(), format!("r1-{call_index}"));
        CallContext {
            run_id,
            seq: 3,
            call_index,
            idempotency_key,
            events: None,
        }
    }

    fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    fn user_hi() -> ChatRequest {
        from_json(json!({"messages": [{"role": "user", "content": "hi"}]}))
    }

    /// Sends "hi" to a fake server that answers `status` and `body`.
    async fn hi(status: u16, body: &str) -> Result<ChatResponse, LlmError> {
        let (url, _seen) = serve(&[(status, body)], Duration::ZERO).await;
        provider(url, SECS).chat(&ctx(0), &user_hi()).await
    }

    /// Asserts `result` failed with `kind` and a message containing `parts`
    /// but not the API key.
    fn fails<T: std::fmt::Debug>(kind: &str, result: Result<T, LlmError>, parts: &[&str]) {
        let err = serde_json::to_value(result.unwrap_err()).unwrap();
        let message = err["message"].as_str().unwrap();
        assert_eq!(err["kind"], kind, "{message}");
        for part in parts {
            assert!(message.contains(part), "no {part:?} in {message:?}");
        }
        assert!(!message.contains(KEY), "{message}");
    }

    const TOOL_CALL: &str = r#"{"model": "llama3.2:latest", "usage": {"prompt_tokens": 42, "completion_tokens": 7},
        "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_abc", "type": "function",
                "function": {"name": "search", "arguments": "{\"query\":\"rust\"}"}}]}}]}"#;
    const ANSWER: &str = r#"{"choices": [{"finish_reason": "stop", "message": {"content": "Rust is a language."}}]}"#;

    #[tokio::test]
    async fn tool_call_round_trip_maps_requests_and_responses() {
        let (url, seen) = serve(&[(200, TOOL_CALL), (200, ANSWER)], Duration::ZERO).await;
        let p = provider(url, SECS);
        let schema = r#"{"type":"object","properties":{"query":{"type":"string"}}}"#;
        let conversation = json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is rust?"}]);
        let mut request: ChatRequest = from_json(json!({
            "model": "local", "temperature": 0.7, "max_tokens": 100, "messages": conversation,
            "tools": [{"name": "search", "description": "Search the notes", "parameters": schema}]
        }));

        let answer = serde_json::to_value(p.chat(&ctx(0), &request).await.unwrap()).unwrap();
        let call = json!({"id": "call_abc", "name": "search", "arguments": "{\"query\":\"rust\"}"});
        let expected = json!({"model": "llama3.2:latest", "finish_reason": "tool_calls",
            "usage": {"input_tokens": 42, "output_tokens": 7},
            "message": {"role": "assistant", "content": "", "tool_calls": [call]}});
        assert_eq!(answer, expected, "null content is empty");

        request.messages.push(from_json(answer["message"].clone()));
        let tool = json!({"role": "tool", "tool_call_id": "call_abc", "content": "{\"hits\":1}"});
        request.messages.push(from_json(tool.clone()));
        let last = serde_json::to_value(p.chat(&ctx(1), &request).await.unwrap()).unwrap();
        let expected = json!({"model": "llama3.2", "finish_reason": "stop",
            "usage": {"input_tokens": 0, "output_tokens": 0},
            "message": {"role": "assistant", "content": "Rust is a language."}});
        assert_eq!(last, expected, "absent model and usage have defaults");

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        for (i, (path, headers, _)) in seen.iter().enumerate() {
            assert_eq!(path, "/v1/chat/completions");
            assert_eq!(headers["authorization"], "Bearer sk-test-secret-key");
            assert_eq!(headers["idempotency-key"], format!("r1-{i}").as_str());
        }
        let tools = json!([{"type": "function", "function": {"name": "search", "description": "Search the notes",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]);
        let first = json!({"model": "llama3.2", "temperature": 0.7, "max_tokens": 100, "tools": tools,
            "messages": conversation});
        assert_eq!(seen[0].2, first);
        let assistant = json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_abc",
            "type": "function", "function": {"name": "search", "arguments": "{\"query\":\"rust\"}"}}]});
        let follow_up = json!({"model": "llama3.2", "temperature": 0.7, "max_tokens": 100, "tools": tools,
            "messages": [conversation[0], conversation[1], assistant, tool]});
        assert_eq!(seen[1].2, follow_up);
    }

    #[tokio::test]
    async fn a_rejected_request_quotes_the_provider_and_hides_the_key() {
        let body = format!(r#"{{"error": {{"message": "Incorrect API key provided: {KEY}"}}}}"#);
        let parts = ["401", "Incorrect API key provided", "api_key_env"];
        fails("invalid_request", hi(401, &body).await, &parts);
        let debug = format!("{:?}", provider("http://h/v1".into(), SECS));
        assert!(!debug.contains(KEY), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[tokio::test]
    async fn server_errors_and_rate_limits_are_unavailable() {
        let rate_limited = r#"{"error":{"message":"slow down"}}"#;
        let (url, seen) = serve(
            &[(500, "upstream exploded"), (429, rate_limited)],
            Duration::ZERO,
        )
        .await;
        let p = OpenAiProvider::new(url, "m".into(), None, SECS);
        let parts = ["500 Internal Server Error", "`upstream exploded`"];
        fails("unavailable", p.chat(&ctx(0), &user_hi()).await, &parts);
        let parts = ["429 Too Many Requests", "slow down"];
        fails("unavailable", p.chat(&ctx(1), &user_hi()).await, &parts);
        let headers = &seen.lock().unwrap()[0].1;
        assert!(headers.get("authorization").is_none(), "no key");
        assert_eq!(headers["idempotency-key"], "r1-0");
    }

    #[tokio::test]
    async fn malformed_bodies_and_redirects_are_invalid_requests() {
        let html = hi(200, "<html>hello</html>").await;
        fails(
            "invalid_request",
            html,
            &["malformed", "`<html>hello</html>`"],
        );
        let no_choices = hi(200, r#"{"choices": []}"#).await;
        fails("invalid_request", no_choices, &["malformed", "no choices"]);
        let empty = hi(200, "").await;
        fails("invalid_request", empty, &["malformed", "(empty body)"]);
        let redirect = hi(307, "").await;
        fails(
            "invalid_request",
            redirect,
            &["307", "redirects", "base_url"],
        );
    }

    #[tokio::test]
    async fn a_slow_server_times_out_as_unavailable() {
        let (url, _seen) = serve(&[(200, ANSWER)], SECS).await;
        let p = provider(url, Duration::from_millis(200));
        let result = p.chat(&ctx(0), &user_hi()).await;
        fails("unavailable", result, &["timeout of 200ms", "timeout_secs"]);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let p = provider(format!("http://{addr}/v1"), SECS);
        let result = p.chat(&ctx(0), &user_hi()).await;
        fails(
            "unavailable",
            result,
            &["cannot connect", "refused", "base_url"],
        );
    }

    #[test]
    fn invalid_schemas_and_orphan_tool_messages_are_rejected_before_sending() {
        let p = provider("http://127.0.0.1:9/v1".into(), SECS);
        let body = |parameters: &str| {
            let tool = json!({"name": "search", "description": "", "parameters": parameters});
            p.request_body(&from_json(json!({"messages": [], "tools": [tool]})))
        };
        fails(
            "invalid_request",
            body("{type: 1"),
            &["tool `search`", "is not JSON"],
        );
        fails(
            "invalid_request",
            body("[]"),
            &["tool `search`", "not a JSON object"],
        );
        let orphan = from_json(json!({"messages": [{"role": "tool", "content": "result"}]}));
        let parts = ["message #0", "tool_call_id"];
        fails("invalid_request", p.request_body(&orphan), &parts);
    }
}
