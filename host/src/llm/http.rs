//! What the network providers share: settings, the HTTP client and its
//! timeouts, the classification of failures into retryable or not, error
//! messages that quote the provider but never the API key, and reading an
//! answer whole or as a stream of server-sent events.
//!
//! Timeouts: the response must begin within the model's timeout; a whole
//! (non-streamed) body must also be complete by then, while a stream may go
//! on for longer as long as it never falls silent for the timeout.

use super::retry::{self, AttemptError, RetryPolicy};
use super::sse::{SseEvent, SseParser};
use super::{CallContext, LlmError, ToolSpec};
use crate::config::HttpModelConfig;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Longest response body read before giving up on a server (16 MiB).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How much of a response body an error message quotes, in characters.
const EXCERPT_CHARS: usize = 200;

/// How to reach one network model: what `[models.NAME]` configures, with the
/// defaults applied and the API key read.
#[derive(Clone)]
pub struct HttpSettings {
    /// The API's base address, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// The provider's name for the model.
    pub model: String,
    /// The API key; it never appears in an error or in `Debug` output.
    pub api_key: Option<String>,
    /// See the module docs.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Ask for a streamed answer (servers that answer whole are understood
    /// as well).
    pub stream: bool,
    /// The answer's token limit when the request sets none.
    pub max_tokens: Option<u32>,
}

impl HttpSettings {
    /// Settings for `model` at `base_url`, without a key, with the default
    /// timeout and retries, streaming.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        HttpSettings {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(crate::config::DEFAULT_LLM_TIMEOUT_SECS),
            retry: RetryPolicy::default(),
            stream: true,
            max_tokens: None,
        }
    }

    /// The settings `config` describes; `default_base_url` applies when it
    /// has no `base_url`.
    pub fn from_config(
        config: &HttpModelConfig,
        default_base_url: &str,
        api_key: Option<String>,
    ) -> Self {
        let defaults = RetryPolicy::default();
        let millis = |ms: Option<u64>, default: Duration| ms.map_or(default, Duration::from_millis);
        HttpSettings {
            base_url: config
                .base_url
                .clone()
                .unwrap_or_else(|| default_base_url.to_string()),
            model: config.model.clone(),
            api_key,
            timeout: Duration::from_secs(
                config
                    .timeout_secs
                    .unwrap_or(crate::config::DEFAULT_LLM_TIMEOUT_SECS),
            ),
            retry: RetryPolicy {
                max_attempts: config.max_attempts.unwrap_or(defaults.max_attempts),
                base_delay: millis(config.retry_base_ms, defaults.base_delay),
                max_delay: millis(config.retry_max_ms, defaults.max_delay),
            },
            stream: config.stream.unwrap_or(true),
            max_tokens: config.max_tokens,
        }
    }
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("stream", &self.stream)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

/// How the API key travels.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Auth {
    /// `Authorization: Bearer KEY` (OpenAI).
    Bearer,
    /// A header of its own (Anthropic's `x-api-key`).
    Header(&'static str),
}

/// One API endpoint and the means to reach it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
    auth: Auth,
    timeout: Duration,
    /// Appended to a 404's message: what to check in the configuration.
    not_found_hint: &'static str,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Endpoint {
    /// An endpoint at `url`. Redirects are not followed: a redirected POST
    /// may silently become a GET or resend the call, so a wrong `base_url`
    /// is reported instead.
    ///
    /// # Panics
    ///
    /// If the TLS backend cannot be initialised, like `reqwest::Client::new`.
    pub(crate) fn new(
        url: String,
        api_key: Option<String>,
        auth: Auth,
        timeout: Duration,
        not_found_hint: &'static str,
    ) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("relive/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("cannot initialise the HTTP client's TLS backend");
        Endpoint {
            client,
            url,
            api_key: api_key.filter(|key| !key.is_empty()),
            auth,
            timeout,
            not_found_hint,
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A POST of `body` carrying the call's idempotency key and the API key.
    pub(crate) fn post(&self, ctx: &CallContext, body: &Value) -> RequestBuilder {
        let request = self.client.post(&self.url);
        let request = request.header("Idempotency-Key", &ctx.idempotency_key);
        let request = match (&self.api_key, self.auth) {
            (Some(key), Auth::Bearer) => request.bearer_auth(key),
            (Some(key), Auth::Header(name)) => request.header(name, key),
            (None, _) => request,
        };
        request.json(body)
    }

    /// When an attempt starting now must have its (whole) answer.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Sends `request` and reads what came back: an event stream to read,
    /// a whole successful body, or the error a non-success status means.
    /// The response must begin, and a whole body end, within the timeout.
    pub(crate) async fn exchange(
        &self,
        request: RequestBuilder,
    ) -> Result<Reply<'_>, AttemptError> {
        let deadline = self.deadline();
        let mut response = self.send(request, deadline).await?;
        let status = response.status();
        if status.is_success() && is_event_stream(&response) {
            return Ok(Reply::Stream(Box::new(self.events(response))));
        }
        let headers = response.headers().clone();
        let text = self.text(&mut response, deadline).await?;
        if !status.is_success() {
            return Err(self.status_error(status, &headers, &text));
        }
        Ok(Reply::Whole(text))
    }

    /// Sends `request`; the response must begin by `deadline`.
    pub(crate) async fn send(
        &self,
        request: RequestBuilder,
        deadline: Instant,
    ) -> Result<Response, AttemptError> {
        match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) => Err(self.timed_out()),
            Ok(Err(e)) => Err(self.send_error(&e)),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Reads the rest of `response`, which must be complete by `deadline`.
    pub(crate) async fn text(
        &self,
        response: &mut Response,
        deadline: Instant,
    ) -> Result<String, AttemptError> {
        let mut bytes = Vec::new();
        loop {
            let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => return Err(self.timed_out()),
                Ok(Err(e)) => return Err(self.read_error(&e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(self.too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The events of a `text/event-stream` response.
    pub(crate) fn events(&self, response: Response) -> SseReader<'_> {
        SseReader {
            endpoint: self,
            response,
            parser: SseParser::new(),
            pending: VecDeque::new(),
            read: 0,
            ended: false,
        }
    }

    /// A non-success status with body `text`: the provider's own message,
    /// a hint at the key to fix, and whether to retry (408, 409 — the same
    /// idempotency key still in progress —, 429 and 5xx; after
    /// `Retry-After` if the server sent one).
    pub(crate) fn status_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        text: &str,
    ) -> AttemptError {
        let said = provider_message(text).unwrap_or_else(|| excerpt(text));
        let hint = match status.as_u16() {
            401 | 403 => "; check the API key (the variable named by `api_key_env` in relive.toml)",
            404 => self.not_found_hint,
            300..=399 => "; the server redirects elsewhere: point `base_url` at the final address",
            _ => "",
        };
        let message = self.redact(&format!("{} answered {status}: {said}{hint}", self.url));
        let retryable = matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error();
        if retryable {
            let after = retry::retry_after(headers, std::time::SystemTime::now());
            AttemptError::retryable(LlmError::Unavailable(message)).with_retry_after(after)
        } else {
            AttemptError::fatal(LlmError::InvalidRequest(message))
        }
    }

    /// A success response whose body `text` is not what the API promises.
    pub(crate) fn malformed(&self, why: &str, text: &str) -> LlmError {
        LlmError::InvalidRequest(self.redact(&format!(
            "{} answered with a malformed body ({why}): {}",
            self.url,
            excerpt(text)
        )))
    }

    /// A stream event that cannot be understood: retryable, because a
    /// stream cut or garbled in transit is the usual cause.
    pub(crate) fn malformed_event(&self, why: &str, data: &str) -> AttemptError {
        AttemptError::retryable(LlmError::InvalidRequest(self.redact(&format!(
            "{} sent a malformed stream event ({why}): {}",
            self.url,
            excerpt(data)
        ))))
    }

    /// A stream that ended before the answer was complete.
    pub(crate) fn incomplete(&self, missing: &str) -> AttemptError {
        AttemptError::retryable(LlmError::Unavailable(format!(
            "the stream from {} ended before the answer was complete (no {missing})",
            self.url
        )))
    }

    /// `text` with the API key replaced, in case a server or a library
    /// quotes it back.
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) => text.replace(key.as_str(), "<redacted>"),
            None => text.to_string(),
        }
    }

    fn timed_out(&self) -> AttemptError {
        AttemptError::retryable(LlmError::Unavailable(format!(
            "{} did not answer within the timeout of {:?}; raise `timeout_secs` of the model in relive.toml if the model is slow",
            self.url, self.timeout
        )))
    }

    fn stalled(&self) -> AttemptError {
        AttemptError::retryable(LlmError::Unavailable(format!(
            "the stream from {} sent nothing for longer than the timeout of {:?}; raise `timeout_secs` of the model in relive.toml if the model is slow",
            self.url, self.timeout
        )))
    }

    fn too_large(&self) -> AttemptError {
        AttemptError::fatal(LlmError::InvalidRequest(format!(
            "{} sent a response body larger than {MAX_RESPONSE_BYTES} bytes",
            self.url
        )))
    }

    /// A failure to send the request or to receive the response head.
    fn send_error(&self, e: &reqwest::Error) -> AttemptError {
        let (url, cause) = (&self.url, root_cause(e));
        if e.is_timeout() {
            return self.timed_out();
        }
        if e.is_builder() {
            let message = format!(
                "cannot build a request to {url} ({cause}); check `base_url` and the API key"
            );
            return AttemptError::fatal(LlmError::InvalidRequest(self.redact(&message)));
        }
        let message = if e.is_connect() {
            format!(
                "cannot connect to {url} ({cause}); is the server running and `base_url` right?"
            )
        } else {
            format!("request to {url} failed ({cause})")
        };
        AttemptError::retryable(LlmError::Unavailable(self.redact(&message)))
    }

    /// A failure while reading the body: the connection broke.
    fn read_error(&self, e: &reqwest::Error) -> AttemptError {
        if e.is_timeout() {
            return self.timed_out();
        }
        let message = format!(
            "the connection to {} broke while reading the answer ({})",
            self.url,
            root_cause(e)
        );
        AttemptError::retryable(LlmError::Unavailable(self.redact(&message)))
    }
}

/// Reads server-sent events from a response, each within the timeout of the
/// previous one.
pub(crate) struct SseReader<'a> {
    endpoint: &'a Endpoint,
    response: Response,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    read: usize,
    ended: bool,
}

impl SseReader<'_> {
    /// The next event; `None` when the stream has ended.
    pub(crate) async fn next(&mut self) -> Result<Option<SseEvent>, AttemptError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            let endpoint = self.endpoint;
            let next = tokio::time::timeout(endpoint.timeout, self.response.chunk()).await;
            match next {
                Err(_) => return Err(endpoint.stalled()),
                Ok(Err(e)) => return Err(endpoint.read_error(&e)),
                Ok(Ok(None)) => self.ended = true,
                Ok(Ok(Some(chunk))) => {
                    self.read += chunk.len();
                    if self.read > MAX_RESPONSE_BYTES {
                        return Err(endpoint.too_large());
                    }
                    self.pending.extend(self.parser.feed(&chunk));
                }
            }
        }
    }
}

/// Whether `response` is a stream of server-sent events.
/// What one successful request brought back.
pub(crate) enum Reply<'a> {
    /// A `text/event-stream`, to be read event by event.
    Stream(Box<SseReader<'a>>),
    /// A whole body.
    Whole(String),
}

/// Reports a whole answer as one streamed piece when a stream was asked
/// for but the server answered at once.
pub(crate) fn emit_whole(ctx: &CallContext, stream: bool, answer: &crate::llm::ChatResponse) {
    if stream && !answer.message.content.is_empty() {
        ctx.emit(crate::llm::ProviderEvent::Token(
            answer.message.content.clone(),
        ));
    }
}

pub(crate) fn is_event_stream(response: &Response) -> bool {
    let content_type = response.headers().get(reqwest::header::CONTENT_TYPE);
    let content_type = content_type.and_then(|v| v.to_str().ok()).unwrap_or("");
    content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/event-stream")
}

/// The parameters schema of `tool` as a JSON object.
pub(crate) fn tool_schema(tool: &ToolSpec) -> Result<Value, LlmError> {
    let why = match serde_json::from_str::<Value>(&tool.parameters) {
        Ok(schema) if schema.is_object() => return Ok(schema),
        Ok(_) => "is not a JSON object".to_string(),
        Err(e) => format!("is not JSON ({e})"),
    };
    Err(LlmError::InvalidRequest(format!(
        "the parameters schema of tool `{}` {why}; it must be a JSON schema object such as {{\"type\": \"object\"}}",
        tool.name
    )))
}

/// `temperature` through its shortest decimal, so 0.7f32 is sent as 0.7,
/// not 0.699999988079071.
pub(crate) fn temperature(t: f32) -> Value {
    json!(t.to_string().parse::<f64>().unwrap_or(f64::from(t)))
}

/// A token count from the wire.
pub(crate) fn tokens(n: Option<u64>) -> u32 {
    u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX)
}

/// The provider's own explanation in an error body: `error.message` (OpenAI,
/// Ollama, Anthropic), `error` as a string, or a top-level `message` (vLLM).
pub(crate) fn provider_message(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let message = v
        .pointer("/error/message")
        .or_else(|| v.get("error").filter(|e| e.is_string()))
        .or_else(|| v.get("message"))?
        .as_str()?;
    Some(shorten(message, 4 * EXCERPT_CHARS))
}

/// The start of a body, on one line, for an error message.
pub(crate) fn excerpt(text: &str) -> String {
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
