//! The API's answers and cancels: approve, reject, signal, cancel. Each is
//! one journal transaction (see `control::answers`); the scheduler is woken
//! to go on with the run.

use super::{ApiError, ApiResult, Shared, blocking, run_view};
use crate::journal::{ApprovalAnswer, SignalAnswer, now_ms};
use crate::server::Service;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Parses an optional JSON body (empty means `{}`).
pub(super) fn body_json<T: serde::de::DeserializeOwned + Default>(
    body: &Bytes,
    shape: &str,
) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("expected {shape}: {e}")))
}

/// An operator's answer, as the API takes it.
enum Answer {
    Approval(ApprovalAnswer),
    Signal { name: String, answer: SignalAnswer },
}

/// Records an answer (one journal transaction), then wakes the scheduler
/// to go on with the run.
async fn answer(service: Arc<Service>, id: String, answer: Answer) -> ApiResult<Json<Value>> {
    let svc = service.clone();
    let run = blocking(move || {
        let journal = &*svc.journal;
        let (run, _) = match &answer {
            Answer::Approval(a) => crate::control::answers::decide(journal, &id, a)?,
            Answer::Signal { name, answer } => {
                crate::control::answers::signal(journal, &id, name, answer)?
            }
        };
        Ok(svc.journal.find_run(&run.id)?)
    })
    .await?;
    service.wake.notify_one();
    service.publish_status(&run.id);
    Ok(Json(run_view(&service, &run)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Approve {
    note: Option<String>,
    details: Option<String>,
    by: Option<String>,
}

pub(super) async fn approve(
    State(service): Shared,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let a: Approve = body_json(&body, "{\"note\", \"details\", \"by\"} (all optional)")?;
    let decision = ApprovalAnswer::Approved {
        details: a.details,
        note: a.note,
        by: Some(a.by.unwrap_or_else(|| "api".into())),
        at_ms: Some(now_ms()),
    };
    answer(service, id, Answer::Approval(decision)).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Reject {
    reason: Option<String>,
    by: Option<String>,
}

pub(super) async fn reject(
    State(service): Shared,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let r: Reject = body_json(&body, "{\"reason\": TEXT, \"by\": optional}")?;
    let Some(reason) = r.reason.filter(|r| !r.trim().is_empty()) else {
        return Err(ApiError::bad_request(
            "a rejection needs a reason: {\"reason\": \"why\"}; the agent is told it",
        ));
    };
    let decision = ApprovalAnswer::Rejected {
        reason,
        by: Some(r.by.unwrap_or_else(|| "api".into())),
        at_ms: Some(now_ms()),
    };
    answer(service, id, Answer::Approval(decision)).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Signal {
    data: Option<Value>,
    by: Option<String>,
}

pub(super) async fn signal(
    State(service): Shared,
    Path((id, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let s: Signal = body_json(&body, "{\"data\": any JSON (optional)}")?;
    let delivered = SignalAnswer {
        payload: s.data.map(|d| d.to_string()),
        timed_out: false,
        by: Some(s.by.unwrap_or_else(|| "api".into())),
        at_ms: Some(now_ms()),
    };
    answer(
        service,
        id,
        Answer::Signal {
            name,
            answer: delivered,
        },
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Cancel {
    reason: Option<String>,
}

pub(super) async fn cancel(
    State(service): Shared,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let c: Cancel = body_json(&body, "{\"reason\": optional text}")?;
    let svc = service.clone();
    let run = blocking(move || Ok(svc.journal.find_run(&id)?)).await?;
    service
        .cancel(&run, c.reason.as_deref())
        .await
        .map_err(ApiError::conflict)?;
    let svc = service.clone();
    blocking(move || {
        let run = svc.journal.find_run(&run.id)?;
        Ok(Json(run_view(&svc, &run)))
    })
    .await
}
