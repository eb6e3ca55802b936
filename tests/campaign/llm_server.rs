//! The campaign's LLM: an OpenAI-compatible chat-completions server on
//! 127.0.0.1, shared by every kill point of the test process. Each point
//! has its own base URL (`/p{POINT}/v1`), so the server knows which point a
//! request belongs to even before the run has an id.
//!
//! It records every request (idempotency key, body, which host process sent
//! it, when it arrived, when it was answered), answers after 10–49 ms (so a
//! kill lands in calls, not only between them), and can SIGKILL a point's
//! host the moment its N-th request arrives: the instant a request has just
//! left the host.
//!
//! Which process sent a request comes from its API key: every `relive`
//! process of a point gets its own ([`API_KEY_VAR`]). Arrival times cannot
//! tell: a request that a killed host sent just before it died may reach
//! the handler after the kill.

use super::process::Killer;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The environment variable that holds a `relive` process's API key,
/// `campaign-process-N` for the point's N-th process.
pub const API_KEY_VAR: &str = "RELIVE_CAMPAIGN_LLM_KEY";

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    /// The `Idempotency-Key` header (empty when absent).
    pub key: String,
    /// The point's process that sent it (from 1; 0 when the API key is
    /// missing).
    pub process: usize,
    /// The body, as compact JSON.
    pub body: String,
    pub arrived: Instant,
    /// When the answer left the handler; `None` if it never did (the
    /// client went away first).
    pub answered: Option<Instant>,
}

impl Request {
    /// Whether the request was still unanswered at `instant`.
    pub fn open_at(&self, instant: Instant) -> bool {
        self.answered.is_none_or(|a| a > instant)
    }
}

/// A kill armed for a point: at its `at`-th request (counting all its
/// requests from 1).
struct Trigger {
    at: usize,
    killer: Arc<Killer>,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<HashMap<u64, Vec<Request>>>,
    triggers: Mutex<HashMap<u64, Trigger>>,
}

/// The running server.
pub struct LlmServer {
    url: String,
    shared: Arc<Shared>,
}

impl LlmServer {
    /// The server of this test process, started on first use.
    pub fn get() -> &'static LlmServer {
        static SERVER: OnceLock<LlmServer> = OnceLock::new();
        SERVER.get_or_init(|| {
            let shared = Arc::new(Shared::default());
            let app = axum::Router::new()
                .fallback(completions)
                .with_state(shared.clone());
            LlmServer {
                url: crate::support::serve(app),
                shared,
            }
        })
    }

    /// The base URL a point's model is configured with.
    pub fn base_url(&self, point: u64) -> String {
        format!("{}/p{point}/v1", self.url)
    }

    /// The requests of `point` so far, in arrival order.
    pub fn requests(&self, point: u64) -> Vec<Request> {
        let requests = self.shared.requests.lock().unwrap();
        requests.get(&point).cloned().unwrap_or_default()
    }

    /// SIGKILLs `killer`'s process when `point`'s `at`-th request arrives.
    pub fn arm(&self, point: u64, at: usize, killer: Arc<Killer>) {
        let trigger = Trigger { at, killer };
        self.shared.triggers.lock().unwrap().insert(point, trigger);
    }

    pub fn disarm(&self, point: u64) {
        self.shared.triggers.lock().unwrap().remove(&point);
    }

    /// Forgets a finished point's requests.
    pub fn forget(&self, point: u64) {
        self.shared.requests.lock().unwrap().remove(&point);
    }
}

/// 64-bit FNV-1a, for answers and delays that are functions of the request.
pub fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let point = uri
        .path()
        .strip_prefix("/p")
        .and_then(|rest| rest.strip_suffix("/v1/chat/completions"))
        .and_then(|p| p.parse::<u64>().ok());
    let Some(point) = point else {
        let message = format!(
            "no such endpoint {}; use /p{{POINT}}/v1/chat/completions",
            uri.path()
        );
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not JSON").into_response();
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let process = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer campaign-process-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let body = body.to_string();
    let (index, count) = {
        let mut requests = shared.requests.lock().unwrap();
        let list = requests.entry(point).or_default();
        list.push(Request {
            key: key.clone(),
            process,
            body: body.clone(),
            arrived: Instant::now(),
            answered: None,
        });
        (list.len() - 1, list.len())
    };
    let fire = {
        let mut triggers = shared.triggers.lock().unwrap();
        match triggers.get(&point) {
            Some(t) if t.at == count => triggers.remove(&point).map(|t| t.killer),
            _ => None,
        }
    };
    if let Some(killer) = fire {
        killer.kill();
    }
    tokio::time::sleep(Duration::from_millis(10 + fnv(&key) % 40)).await;
    let content = format!("noted {:016x}", fnv(&body));
    if let Some(list) = shared.requests.lock().unwrap().get_mut(&point) {
        list[index].answered = Some(Instant::now());
    }
    axum::Json(json!({
        "id": format!("chatcmpl-{point}-{index}"),
        "model": "campaign-model",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": 20, "completion_tokens": 4 }
    }))
    .into_response()
}
