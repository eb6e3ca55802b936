//! The HTTP API (JSON): its routes, errors, authentication, health check,
//! the OpenAPI document and the web UI's files. The handlers live in
//! `api/runs.rs` (components, runs, entries, events) and `api/answers.rs`
//! (approve, reject, signal, cancel). Every error is `{"error": {"code", "message"}}` with a
//! stable code; the message names the problem and the fix.

use super::Service;
use crate::control::answers::AnswerError;
use crate::journal::{Entry, JournalError, RunRecord, RunStatus, Waiting};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

mod answers;
mod runs;

use answers::{approve, cancel, reject, signal};
use runs::{
    create_run, get_entries, get_events, get_run, list_components, list_runs, register_component,
};

type Shared = State<Arc<Service>>;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");
const INDEX_HTML: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
const STYLE_CSS: &str = include_str!("ui/style.css");

/// Every route of the service.
pub fn router(service: Arc<Service>) -> Router {
    let max_component =
        crate::config::Limits::resolve(&service.config.limits, &Default::default(), "(any agent)")
            .max_component_bytes;
    let max_call =
        crate::config::Limits::resolve(&service.config.limits, &Default::default(), "(any agent)")
            .max_call_bytes;
    let api = Router::new()
        .route(
            "/v1/components",
            post(register_component)
                .get(list_components)
                .layer(DefaultBodyLimit::max(max_component)),
        )
        .route(
            "/v1/runs",
            post(create_run)
                .get(list_runs)
                .layer(DefaultBodyLimit::max(max_call)),
        )
        .route("/v1/runs/{id}", get(get_run))
        .route("/v1/runs/{id}/entries", get(get_entries))
        .route("/v1/runs/{id}/events", get(get_events))
        .route("/v1/runs/{id}/approve", post(approve))
        .route("/v1/runs/{id}/reject", post(reject))
        .route(
            "/v1/runs/{id}/signals/{name}",
            post(signal).layer(DefaultBodyLimit::max(max_call)),
        )
        .route("/v1/runs/{id}/cancel", post(cancel))
        .fallback(not_found)
        .layer(middleware::from_fn(json_rejections))
        .layer(middleware::from_fn_with_state(service.clone(), authorize));
    Router::new()
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi))
        .route("/", get(index))
        .route("/ui/app.js", get(app_js))
        .route("/ui/style.css", get(style_css))
        .merge(api)
        .with_state(service)
}

/// An API error: HTTP status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<JournalError> for ApiError {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::UnknownRun(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            JournalError::AmbiguousRun { .. } => ApiError::bad_request(e.to_string()),
            e => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        }
    }
}

impl From<AnswerError> for ApiError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Journal(e) => e.into(),
            AnswerError::Refused(message) => ApiError::conflict(message),
            e @ AnswerError::PartlyCancelled { .. } => ApiError::conflict(e.to_string()),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Checks the bearer token, when one is configured: the `Authorization`
/// header, or `?token=` on GET requests (browsers' EventSource cannot set
/// headers).
pub(super) async fn authorize(State(service): Shared, request: Request, next: Next) -> Response {
    let Some(expected) = service.options.token.as_deref() else {
        return next.run(request).await;
    };
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let from_query = (request.method() == axum::http::Method::GET)
        .then(|| {
            request.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("token="))
                    .map(str::to_string)
            })
        })
        .flatten();
    let given = from_header.or(from_query);
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this relive requires a token: send `Authorization: Bearer TOKEN` (the token relive serve was started with, from RELIVE_TOKEN or --token-file)",
    )
    .into_response()
}

/// Compares secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// axum answers a body it refuses (over the size limit, unreadable) in
/// plain text; the API answers every error in its JSON form, with the
/// limit and the key that raises it for a body that is too large.
async fn json_rejections(request: Request, next: Next) -> Response {
    let components = request.uri().path().starts_with("/v1/components");
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || response.status().is_success() {
        return response;
    }
    let status = response.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        let (what, key) = if components {
            ("a component", "max_component_mib")
        } else {
            (
                "a request body (an input, a signal's data)",
                "max_call_bytes",
            )
        };
        return ApiError::new(
            status,
            "payload_too_large",
            format!("{what} is larger than the limit; raise `{key}` under [limits] in relive.toml"),
        )
        .into_response();
    }
    if status.is_client_error() {
        let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&text).trim().to_string();
        let message = if text.is_empty() {
            format!("{status}; GET /openapi.json lists the API")
        } else {
            text
        };
        return ApiError::new(status, "bad_request", message).into_response();
    }
    response
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no route {} {}; GET /openapi.json lists the API",
            request.method(),
            request.uri().path()
        ),
    )
}

/// `200` while the service can do its work; `503` when the journal cannot
/// write (its writer died, or does not commit within seconds): a load
/// balancer or supervisor should then restart the process.
async fn health(State(service): Shared) -> Response {
    let journal = service.journal.clone();
    let writable = tokio::task::spawn_blocking(move || journal.health())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let stopping = service.stopping.load(std::sync::atomic::Ordering::Relaxed);
    let (code, status) = match (&writable, stopping) {
        (Err(_), _) => (StatusCode::SERVICE_UNAVAILABLE, "journal-unavailable"),
        (Ok(()), true) => (StatusCode::OK, "stopping"),
        (Ok(()), false) => (StatusCode::OK, "ok"),
    };
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "runs_active": service.active_count(),
        "journal": match &writable {
            Ok(()) => json!({ "writable": true }),
            Err(e) => json!({ "writable": false, "error": e }),
        },
    });
    (code, Json(body)).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
        .into_response()
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response()
}

async fn style_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE_CSS,
    )
        .into_response()
}

/// A run as the API shows it. Reads the run's summary, not its journal:
/// a run with a long journal costs no more to show.
pub fn run_view(service: &Service, run: &RunRecord) -> Value {
    let summary = service.journal.summary(&run.id).unwrap_or_default();
    let waiting: Option<Waiting> = (run.status == RunStatus::Suspended)
        .then(|| summary.last.as_ref().and_then(Waiting::of))
        .flatten();
    let input_tokens: u64 = summary.usage.iter().map(|u| u.input_tokens).sum();
    let output_tokens: u64 = summary.usage.iter().map(|u| u.output_tokens).sum();
    let cost = crate::llm::pricing::usage_cost(
        &service.config,
        &run.agent,
        summary
            .usage
            .iter()
            .map(|u| (u.model.as_str(), u.input_tokens, u.output_tokens)),
    );
    json!({
        "id": run.id,
        "agent": run.agent,
        "component": run.component_digest,
        "input": run.input,
        "status": run.status,
        "output": run.output,
        "error": run.error,
        "created_at_ms": run.created_at_ms,
        "updated_at_ms": run.updated_at_ms,
        "waiting": waiting,
        "entries": summary.entries,
        "parent": run.parent,
        "children": children_view(service, &run.id),
        "tokens": { "input": input_tokens, "output": output_tokens },
        "cost": cost,
    })
}

/// A run's child runs: id, agent and status, oldest first.
fn children_view(service: &Service, run: &str) -> Value {
    let query = crate::journal::RunQuery {
        parent: Some(run.to_string()),
        limit: 1000,
        ..crate::journal::RunQuery::default()
    };
    let mut children = service.journal.runs(&query).unwrap_or_default();
    children.reverse();
    Value::Array(
        children
            .iter()
            .map(|c| json!({ "id": c.id, "agent": c.agent, "status": c.status }))
            .collect(),
    )
}

/// An entry as the API shows it.
pub fn entry_view(entry: &Entry) -> Value {
    let mut v = serde_json::to_value(entry).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.remove("request_digest");
    }
    v
}

/// Runs a blocking journal read off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("a journal read failed: {e}"),
        )
    })?
}
