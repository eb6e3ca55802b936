//! A fake LLM API for the providers' tests: a real axum server on
//! 127.0.0.1 that answers scripted replies in order and records every
//! request. It stops with the test's runtime.

use super::http::HttpSettings;
use super::retry::RetryPolicy;
use super::{CallContext, ChatRequest, LlmError, ProviderEvent};
use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Bytes sent before a [`Reply::cut`] breaks the connection: more than
/// hyper buffers, so the client surely receives the head and a part of the
/// body before the connection breaks.
const CUT_PADDING: usize = 600_000;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Duration,
    cut: bool,
}

impl Reply {
    /// `status` with a JSON `body`.
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
            cut: false,
        }
    }

    /// A 200 stream of server-sent events: `(event name or "", data)`; a
    /// string is sent as it is (e.g. `[DONE]`), anything else as JSON.
    pub fn sse(events: &[(&str, Value)]) -> Reply {
        let mut body = String::new();
        for (event, data) in events {
            if !event.is_empty() {
                body.push_str(&format!("event: {event}\n"));
            }
            match data {
                Value::String(raw) => body.push_str(&format!("data: {raw}\n\n")),
                data => body.push_str(&format!("data: {data}\n\n")),
            }
        }
        Reply::sse_text(body)
    }

    /// A 200 stream of server-sent events, written out.
    pub fn sse_text(body: impl Into<String>) -> Reply {
        Reply {
            headers: vec![("content-type".into(), "text/event-stream".into())],
            ..Reply::json(200, body)
        }
    }

    /// The same reply with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same reply, sent after `delay`.
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// The same reply broken off: the head and the whole body are sent
    /// (padded), then the connection breaks before the declared length.
    /// Cut a stream at an event's end, or a JSON body anywhere.
    pub fn cut(mut self) -> Reply {
        self.cut = true;
        self
    }

    fn response(self) -> Response {
        let mut builder = Response::builder().status(self.status);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        if !self.cut {
            return builder.body(Body::from(self.body)).unwrap();
        }
        let padded = if self.headers.iter().any(|(_, v)| v == "text/event-stream") {
            format!("{}:{}\n", self.body, "x".repeat(CUT_PADDING))
        } else {
            format!("{}{}", " ".repeat(CUT_PADDING), self.body)
        };
        // A stream body has no known length, so hyper sends what it has and
        // then breaks the connection for falling short of `content-length`.
        let declared = (padded.len() * 2).to_string();
        let body = Body::from_stream(Body::from(padded).into_data_stream());
        builder
            .header("content-length", declared)
            .body(body)
            .unwrap()
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
}

/// A running fake server.
pub struct Server {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Starts a server that answers `replies` in order (a request beyond
    /// them gets a 500 that names the problem).
    pub async fn start(replies: Vec<Reply>) -> Server {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let (log, replies) = (log.clone(), replies.clone());
            async move {
                let at = Instant::now();
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let path = parts.uri.path().to_string();
                let headers = parts.headers;
                log.lock().unwrap().push(Seen {
                    path,
                    headers,
                    body,
                    at,
                });
                let reply = replies.lock().unwrap().pop_front();
                let reply = reply.unwrap_or_else(|| Reply::json(500, "no reply scripted"));
                tokio::time::sleep(reply.delay).await;
                reply.response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            url: format!("http://{addr}"),
            seen,
        }
    }

    /// The requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// The API key the tests configure; no message may contain it.
pub const KEY: &str = "sk-test-secret-key";

/// The events a call reported.
pub type Events = Arc<Mutex<Vec<ProviderEvent>>>;

/// The context of LLM call `call_index` of run `r1`, collecting its events.
pub fn context(call_index: u64) -> (CallContext, Events) {
    let events = Events::default();
    let sink = events.clone();
    let ctx = CallContext {
        run_id: "r1".into(),
        seq: 3,
        call_index,
        idempotency_key: format!("r1-{call_index}"),
        events: Some(Arc::new(move |event| sink.lock().unwrap().push(event))),
    };
    (ctx, events)
}

/// The text pieces among `events`.
pub fn tokens(events: &Events) -> Vec<String> {
    let events = events.lock().unwrap();
    let token = |e: &ProviderEvent| match e {
        ProviderEvent::Token(t) => Some(t.clone()),
        ProviderEvent::Retrying { .. } => None,
    };
    events.iter().filter_map(token).collect()
}

/// The retries among `events`: (attempt, error, wait).
pub fn retries(events: &Events) -> Vec<(u32, LlmError, Duration)> {
    let events = events.lock().unwrap();
    let retry = |e: &ProviderEvent| match e {
        ProviderEvent::Retrying {
            attempt,
            error,
            retry_in,
        } => Some((*attempt, error.clone(), *retry_in)),
        ProviderEvent::Token(_) => None,
    };
    events.iter().filter_map(retry).collect()
}

/// Settings for quick tests: the test key, a 5 s timeout, 3 attempts with
/// millisecond backoff (but a `Retry-After` of up to 2 s is honoured).
pub fn settings(base_url: &str, model: &str, stream: bool) -> HttpSettings {
    HttpSettings {
        api_key: Some(KEY.into()),
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(2),
        },
        stream,
        ..HttpSettings::new(base_url, model)
    }
}

pub fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

pub fn user_hi() -> ChatRequest {
    from_json(serde_json::json!({"messages": [{"role": "user", "content": "hi"}]}))
}

/// Asserts `result` failed with `kind` and a message containing `parts`
/// but not the API key; returns the message.
pub fn fails<T: std::fmt::Debug>(
    kind: &str,
    result: Result<T, LlmError>,
    parts: &[&str],
) -> String {
    let err = serde_json::to_value(result.unwrap_err()).unwrap();
    let message = err["message"].as_str().unwrap().to_string();
    assert_eq!(err["kind"], kind, "{message}");
    for part in parts {
        assert!(message.contains(part), "no {part:?} in {message:?}");
    }
    assert!(!message.contains(KEY), "{message}");
    message
}

/// Asserts that every request carried the same idempotency key, `key`.
pub fn same_key(seen: &[Seen], key: &str) {
    for request in seen {
        assert_eq!(request.headers["idempotency-key"], key);
    }
}

/// Starts a one-connection server that answers with a chunked
/// `text/event-stream`, writing each `(pause, text)` after its pause: the
/// pacing a stream of tokens has, which an axum body cannot fake here.
/// Returns its base URL.
pub async fn paced_stream(parts: Vec<(Duration, String)>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // Read the request: its head, then `content-length` bytes of body.
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        let body_start = loop {
            let n = socket.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the client hung up before sending its request");
            request.extend_from_slice(&buffer[..n]);
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
        };
        let head = String::from_utf8_lossy(&request[..body_start]).to_ascii_lowercase();
        let length = head.lines().find_map(|l| l.strip_prefix("content-length:"));
        let length: usize = length.map_or(0, |l| l.trim().parse().unwrap());
        while request.len() < body_start + length {
            let n = socket.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the client hung up before sending its body");
            request.extend_from_slice(&buffer[..n]);
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for (pause, text) in parts {
            tokio::time::sleep(pause).await;
            let chunk = format!("{:x}\r\n{text}\r\n", text.len());
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return; // the client gave up, as some tests expect
            }
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    url
}
