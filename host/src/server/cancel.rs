//! Cancelling a run from the API: the run, and the runs under it, are
//! stopped where they execute — here, or in another `relive serve` process
//! sharing the journal (PostgreSQL, any host), which is asked through the
//! journal and cancels them as their owner (`cluster.rs` receives such
//! requests).

use super::Service;
use crate::control::answers::AnswerError;
use crate::journal::RunRecord;
use std::time::Duration;

/// How long a cancel waits for the process executing a run (elsewhere) to
/// cancel it.
pub const OWNER_CANCEL_WAIT: Duration = Duration::from_secs(10);

impl Service {
    /// Cancels a run: stops it if it executes here, then marks it
    /// cancelled, checking its status and lease in the same transaction. A
    /// run (or a run under it) executed by another live process is
    /// cancelled by that process, asked through the journal (PostgreSQL);
    /// refused if that process does not answer, or cannot be reached
    /// (SQLite).
    pub async fn cancel(&self, run: &RunRecord, reason: Option<&str>) -> Result<(), String> {
        // The run and the runs under it (ids `RUN.SEQ...`) that execute here
        // are stopped first.
        let below = format!("{}.", run.id);
        let (tasks, here): (Vec<tokio::task::AbortHandle>, bool) = {
            let mut active = self.lock_active();
            let here = active.contains_key(&run.id);
            let ids: Vec<String> = active
                .keys()
                .filter(|id| **id == run.id || id.starts_with(&below))
                .cloned()
                .collect();
            let tasks = ids
                .iter()
                .filter_map(|id| active.remove(id).map(|(task, _)| task))
                .collect();
            (tasks, here)
        };
        for task in &tasks {
            task.abort();
        }
        // Wait until their tasks are gone, so that nothing they queued can
        // land after the cancellation (and the cancel bumps the lease
        // generation: anything later is refused).
        for _ in 0..500 {
            if tasks.iter().all(|t| t.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A run another process executes is cancelled by that process.
        if !here
            && !ask_owners(self, vec![run.id.clone()], reason)
                .await
                .is_empty()
        {
            self.publish_status(&run.id);
            return Ok(());
        }
        let owner = Some(crate::control::leases::me().to_string());
        let journal = self.journal.clone();
        let (id, why) = (run.id.clone(), reason.map(str::to_string));
        let cancelled = tokio::task::spawn_blocking(move || {
            crate::control::answers::cancel_tree(&*journal, &id, why.as_deref(), owner.as_deref())
        })
        .await
        .map_err(|e| e.to_string())?;
        let cancelled = match cancelled {
            Ok(cancelled) => cancelled,
            // Child runs other processes execute are cancelled by them.
            Err(AnswerError::PartlyCancelled {
                mut cancelled,
                refused,
            }) => {
                let ids = refused.into_iter().map(|(id, _)| id).collect();
                cancelled.extend(cancel_children_elsewhere(self, ids, reason).await?);
                cancelled
            }
            Err(e) => return Err(e.to_string()),
        };
        for id in cancelled {
            self.publish_status(&id);
        }
        Ok(())
    }
}

/// Asks the processes that execute `ids` elsewhere to cancel them, and
/// waits (up to [`OWNER_CANCEL_WAIT`] each) for them to end. Returns the
/// runs that ended so.
async fn ask_owners(service: &Service, ids: Vec<String>, reason: Option<&str>) -> Vec<String> {
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
async fn cancel_children_elsewhere(
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
