//! The API's components and runs: register and list components, create,
//! list and read runs, their entries and their live events.

use super::{ApiError, ApiResult, Shared, blocking, entry_view, run_view};
use crate::journal::RunStatus;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub(super) struct ComponentPath {
    path: String,
}

pub(super) async fn register_component(
    State(service): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (bytes, source) = if is_json {
        let ComponentPath { path } = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "expected {{\"path\": \"/path/to/agent.wasm\"}} or the component's bytes as application/wasm: {e}"
            ))
        })?;
        let bytes = std::fs::read(&path).map_err(|e| {
            ApiError::bad_request(format!(
                "cannot read component {path} on the server: {e}; give a path the server can read, or upload the bytes as application/wasm"
            ))
        })?;
        (bytes, path)
    } else {
        (body.to_vec(), "upload".to_string())
    };
    let size = bytes.len();
    let digest = service.register(&bytes, &source).await.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_component",
            format!("{e:#}"),
        )
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "digest": digest, "size": size, "compiled": true })),
    ))
}

pub(super) async fn list_components(State(service): Shared) -> Json<Value> {
    let components: Vec<Value> = service
        .components
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(digest, c)| json!({ "digest": digest, "size": c.size, "source": c.source }))
        .collect();
    Json(json!({ "components": components }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRun {
    agent: String,
    #[serde(default)]
    input: String,
    component: Option<String>,
}

pub(super) async fn create_run(
    State(service): Shared,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let request: CreateRun = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"agent\": NAME, \"input\": TEXT, \"component\": optional digest}}: {e}"
        ))
    })?;
    if service.stopping.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is shutting down; start the run on the next one",
        ));
    }
    if !service.config.agents.contains_key(&request.agent) {
        let known: Vec<&str> = service.config.agents.keys().map(String::as_str).collect();
        return Err(ApiError::bad_request(format!(
            "no agent `{}` in {}; configured agents: {}",
            request.agent,
            service.config.describe_source(),
            if known.is_empty() {
                "none (add an [agents.NAME] table)".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    service
        .runtime
        .grants(&service.config, &request.agent, None)
        .await
        .map_err(|e| ApiError::bad_request(format!("agent `{}`: {e:#}", request.agent)))?;
    let digest = match request.component {
        Some(digest) => {
            let known = service
                .components
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&digest);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "no component {digest} is registered; upload it first with POST /v1/components"
                )));
            }
            digest
        }
        None => service.configured_component(&request.agent).ok_or_else(|| {
            ApiError::bad_request(format!(
                "agent `{}` has no usable `component` in the configuration; give \"component\": a digest from POST /v1/components",
                request.agent
            ))
        })?,
    };
    let run = service
        .create_run(&request.agent, &digest, request.input)
        .await?;
    let view = run_view(&service, &run);
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
pub(super) struct RunFilter {
    status: Option<String>,
    agent: Option<String>,
    #[serde(default)]
    waiting: bool,
    limit: Option<usize>,
    /// The cursor of the next page: the `next` of the previous one.
    before: Option<String>,
    /// Only the children of this run; empty: only top-level runs.
    parent: Option<String>,
}

pub(super) async fn list_runs(
    State(service): Shared,
    Query(filter): Query<RunFilter>,
) -> ApiResult<Json<Value>> {
    let status = match filter.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<RunStatus>().map_err(|e| {
            ApiError::bad_request(format!(
                "{e}; use one of: {}",
                RunStatus::ALL.map(|s| s.as_str()).join(", ")
            ))
        })?),
    };
    let status = if filter.waiting {
        Some(RunStatus::Suspended)
    } else {
        status
    };
    let query = crate::journal::RunQuery {
        status,
        agent: filter.agent.clone().filter(|a| !a.is_empty()),
        parent: filter.parent.clone(),
        limit: filter.limit.unwrap_or(100).clamp(1, 1000),
        before: filter.before.clone().filter(|b| !b.is_empty()),
    };
    let svc = service.clone();
    let (runs, next) = blocking(move || {
        let runs = svc.journal.runs(&query)?;
        // A full page may have more after it.
        let next = (runs.len() == query.limit)
            .then(|| runs.last().map(|r| r.id.clone()))
            .flatten();
        let views: Vec<Value> = runs.iter().map(|r| run_view(&svc, r)).collect();
        Ok((views, next))
    })
    .await?;
    Ok(Json(json!({ "runs": runs, "next": next })))
}

pub(super) async fn get_run(
    State(service): Shared,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let svc = service.clone();
    blocking(move || {
        let run = svc.journal.find_run(&id)?;
        Ok(Json(run_view(&svc, &run)))
    })
    .await
}

pub(super) async fn get_entries(
    State(service): Shared,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let svc = service.clone();
    blocking(move || {
        let run = svc.journal.find_run(&id)?;
        let entries: Vec<Value> = svc
            .journal
            .entries(&run.id)?
            .iter()
            .map(entry_view)
            .collect();
        Ok(Json(json!({ "entries": entries })))
    })
    .await
}

pub(super) async fn get_events(
    State(service): Shared,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let svc = service.clone();
    let run = blocking(move || Ok(svc.journal.find_run(&id)?)).await?;
    Ok(crate::server::events::stream(service, run.id).into_response())
}
