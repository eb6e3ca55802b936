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
use tokio::sync::broadcast::error::RecvError;

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
