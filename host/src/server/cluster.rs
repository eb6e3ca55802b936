//! What several `relive serve` processes sharing one journal (PostgreSQL,
//! on several hosts) need of each other, carried by the journal's events
//! ([`crate::journal::Journal::events`]):
//!
//! - a commit anywhere that makes a run ready wakes this scheduler (no
//!   polling; a slow poll stays as a safety net);
//! - a commit anywhere that changes a run someone follows here wakes the
//!   follower's event stream, which reads the journal (so a run's events can
//!   be followed from any process: its entries and status, not its streamed
//!   LLM text, which only the process executing it sees);
//! - a cancel asked of any process reaches the process that executes the
//!   run, which stops it and cancels it as its owner.
//!
//! With a journal that has no events (SQLite), none of this runs: the
//! scheduler polls, as it always did.

use super::Service;
use super::events::Live;
use crate::journal::{JournalEvent, RunRecord};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How long a cancel waits for the process executing a run (elsewhere) to
/// cancel it.
pub const OWNER_CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Follows the journal's events until the service stops; returns at once
/// if the journal has none.
pub(super) async fn watch(service: Arc<Service>) {
    let Some(mut events) = service.journal.events() else {
        return;
    };
    let mut stopped = service.stopped.subscribe();
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = stopped.wait_for(|s| *s) => return,
        };
        match event {
            Ok(JournalEvent::Changed { runs, ready }) => {
                if ready {
                    service.wake.notify_one();
                }
                for run in runs {
                    // Runs executing here publish their own live events.
                    if !service.is_active(&run) {
                        service.hub.publish(&run, Live::Status);
                    }
                }
            }
            Ok(JournalEvent::CancelRequested { run_id, reason }) => {
                if service.is_active(&run_id) {
                    tokio::spawn(cancel_here(service.clone(), run_id, reason));
                }
            }
            // Announcements were missed: look at everything again.
            Ok(JournalEvent::Resync) | Err(RecvError::Lagged(_)) => {
                service.wake.notify_one();
                service.hub.publish_all(Live::Status);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Cancels a run this process executes, asked by another process.
async fn cancel_here(service: Arc<Service>, run_id: String, reason: Option<String>) {
    let journal = service.journal.clone();
    let id = run_id.clone();
    let record: RunRecord = match tokio::task::spawn_blocking(move || journal.find_run(&id)).await {
        Ok(Ok(record)) => record,
        _ => return,
    };
    match service.cancel(&record, reason.as_deref()).await {
        Ok(()) => eprintln!("relive: run {run_id} cancelled, as another relive process asked"),
        Err(e) => eprintln!("relive: warning: run {run_id}: cannot cancel it as asked: {e}"),
    }
}

/// Asks the processes that execute `ids` elsewhere to cancel them, and
/// waits (up to [`OWNER_CANCEL_WAIT`] each) for them to end. Returns the
/// runs that ended so.
pub(super) async fn ask_owners(
    service: &Service,
    ids: Vec<String>,
    reason: Option<&str>,
) -> Vec<String> {
    let journal = service.journal.clone();
    let reason = reason.map(str::to_string);
    let asked = tokio::task::spawn_blocking(move || {
        ids.into_iter()
            .filter(|id| {
                crate::control::answers::ask_owner_to_cancel(
                    &*journal,
                    id,
                    reason.as_deref(),
                    OWNER_CANCEL_WAIT,
                )
                .unwrap_or(false)
            })
            .collect()
    })
    .await;
    asked.unwrap_or_default()
}

/// After a run was cancelled here, and the runs `left` under it were
/// refused (executed by other processes): asks their processes to cancel
/// them. Returns them; `Err` names those not cancelled.
pub(super) async fn cancel_children_elsewhere(
    service: &Service,
    left: Vec<String>,
    reason: Option<&str>,
) -> Result<Vec<String>, String> {
    let ended = ask_owners(service, left.clone(), reason).await;
    let still: Vec<&str> = left
        .iter()
        .filter(|id| !ended.contains(id))
        .map(String::as_str)
        .collect();
    if !still.is_empty() {
        return Err(format!(
            "runs {} are executed by other relive processes that did not cancel them within {} s; cancel them when their leases expire",
            still.join(", "),
            OWNER_CANCEL_WAIT.as_secs()
        ));
    }
    Ok(ended)
}
