//! Operators' decisions about runs from outside them: answers to waits
//! (approvals, signals), decisions about calls left uncertain by a crash,
//! and cancels. Each one is one journal transaction that checks the run's
//! state where it writes: a second answer, a resolve of a run that is no
//! longer uncertain, a cancel of a finished run or of a run another live
//! process executes are refused with a message that says why.

use crate::journal::{
    AnswerJson, ApprovalAnswer, Entry, EntryKind, EntryState, Journal, JournalError, Resolution,
    ResolveRequest, RunRecord, RunStatus, SignalAnswer, Waiting, now_ms,
};

/// Why an operator's decision was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Journal(JournalError),
    /// The run's state does not allow it (answered already, not waiting,
    /// not uncertain, finished, executed elsewhere).
    #[error("{0}")]
    Refused(String),
    /// A run was cancelled, and some runs under it were not (executed by
    /// other live processes).
    #[error(
        "run {} was cancelled, but not all of its child runs: {}",
        cancelled[0],
        refused.iter().map(|(id, why)| format!("{id}: {why}")).collect::<Vec<_>>().join("; ")
    )]
    PartlyCancelled {
        /// The runs cancelled, the given one first.
        cancelled: Vec<String>,
        /// The runs left, and why.
        refused: Vec<(String, String)>,
    },
}

impl From<JournalError> for AnswerError {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::Refused(message) => AnswerError::Refused(message),
            other => AnswerError::Journal(other),
        }
    }
}

/// Approves or rejects what a run waits for (`relive approve` / `reject`).
pub fn decide(
    journal: &dyn Journal,
    run: &str,
    answer: &ApprovalAnswer,
) -> Result<(RunRecord, Waiting), AnswerError> {
    record_answer(journal, run, EntryKind::Approval, None, answer.to_json())
}

/// Delivers signal `name` to a run waiting for it (`relive signal`).
pub fn signal(
    journal: &dyn Journal,
    run: &str,
    name: &str,
    answer: &SignalAnswer,
) -> Result<(RunRecord, Waiting), AnswerError> {
    record_answer(
        journal,
        run,
        EntryKind::Signal,
        Some(name),
        answer.to_json(),
    )
}

/// What an operator decides about an uncertain run's interrupted call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Run the call again.
    Retry,
    /// The call's result, as the tool would have returned it (a JSON
    /// document), without running it.
    Result(String),
    /// Fail the run, saying why.
    Fail { reason: Option<String> },
}

/// Records an operator's decision about an uncertain run's interrupted
/// call, and the run's new status, in one transaction (`relive resolve`).
/// Returns the run and the entry decided on.
pub fn resolve(
    journal: &dyn Journal,
    run: &str,
    decision: &Decision,
) -> Result<(RunRecord, Entry), AnswerError> {
    let record = journal.find_run(run)?;
    let id = &record.id;
    if record.status != RunStatus::Uncertain {
        return Err(AnswerError::Refused(format!(
            "run {id} is {}, not uncertain: there is nothing to resolve",
            record.status
        )));
    }
    let entry = journal
        .summary(id)?
        .last
        .filter(|e| e.state == EntryState::Started)
        .ok_or_else(|| AnswerError::Refused(format!("run {id} has no interrupted entry")))?;
    if entry.resolution.is_some() {
        return Err(AnswerError::Refused(format!(
            "entry #{} of run {id} is already resolved; continue with `relive resume {id}`",
            entry.seq
        )));
    }
    let at_ms = now_ms();
    let (resolution, response, error) = match decision {
        Decision::Retry => (Resolution::Retry { at_ms }, None, None),
        Decision::Result(json) => {
            serde_json::from_str::<serde_json::Value>(json)
                .map_err(|e| AnswerError::Refused(format!("the result is not valid JSON: {e}")))?;
            // As the tools import records a tool's success.
            let response = serde_json::json!({ "Ok": json }).to_string();
            (Resolution::Result { at_ms }, Some(response), None)
        }
        Decision::Fail { reason } => {
            let error = format!(
                "failed by an operator: entry #{} ({} `{}`) was interrupted{}",
                entry.seq,
                entry.kind,
                entry.name,
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            (Resolution::Fail { at_ms }, None, Some(error))
        }
    };
    journal
        .resolve(ResolveRequest {
            run_id: id.clone(),
            seq: entry.seq,
            resolution,
            response,
            error,
        })
        .wait_blocking()?;
    Ok((record, entry))
}

/// Cancels an unfinished run and every unfinished run under it (its child
/// runs, theirs...). Returns the runs cancelled, the given one first. A
/// descendant that cannot be cancelled (executed by another live process)
/// is left, and named in the error after the others are cancelled.
pub fn cancel_tree(
    journal: &dyn Journal,
    run: &str,
    reason: Option<&str>,
    owner: Option<&str>,
) -> Result<Vec<String>, AnswerError> {
    let record = cancel(journal, run, reason, owner)?;
    let mut cancelled = vec![record.id.clone()];
    let mut refused = Vec::new();
    let mut queue = vec![record.id];
    while let Some(parent) = queue.pop() {
        let query = crate::journal::RunQuery {
            parent: Some(parent.clone()),
            ..crate::journal::RunQuery::default()
        };
        for child in crate::journal::all_runs_where(journal, query)? {
            queue.push(child.id.clone());
            if child.status.is_final() {
                continue;
            }
            let why = format!("its parent run {parent} was cancelled");
            match cancel(journal, &child.id, Some(&why), owner) {
                Ok(_) => cancelled.push(child.id),
                Err(e) => refused.push((child.id, e.to_string())),
            }
        }
    }
    if !refused.is_empty() {
        return Err(AnswerError::PartlyCancelled { cancelled, refused });
    }
    Ok(cancelled)
}

/// Cancels an unfinished run for good. `owner` is a lease holder whose
/// lease does not protect the run (this process, after it stopped its own
/// execution of the run); a lease held by a dead process on this machine
/// does not protect it either. Refused for a finished run and for one that
/// another live process executes.
pub fn cancel(
    journal: &dyn Journal,
    run: &str,
    reason: Option<&str>,
    owner: Option<&str>,
) -> Result<RunRecord, AnswerError> {
    let record = journal.find_run(run)?;
    let owner = match (owner, journal.lease(&record.id)?) {
        (Some(owner), _) => Some(owner.to_string()),
        (None, Some(lease)) if super::leases::is_dead(journal, &lease.owner) => Some(lease.owner),
        _ => None,
    };
    let error = format!(
        "cancelled by an operator{}",
        reason.map(|r| format!(": {r}")).unwrap_or_default()
    );
    journal
        .cancel(&record.id, error, owner.as_deref())
        .wait_blocking()?;
    Ok(record)
}

/// Asks the process that executes `run` — another live relive process,
/// on any host the journal reaches — to cancel it, and waits up to `wait`
/// for the run to end. Returns whether it ended: `false` when no other
/// live process holds its lease, when the journal cannot reach other
/// processes (SQLite), or when the owner did not answer in time (paused,
/// cut off: its lease expires, and the run can then be cancelled here).
pub fn ask_owner_to_cancel(
    journal: &dyn Journal,
    run: &str,
    reason: Option<&str>,
    wait: std::time::Duration,
) -> Result<bool, AnswerError> {
    let record = journal.find_run(run)?;
    if record.status.is_final() {
        return Ok(false);
    }
    let Some(lease) = journal.lease(&record.id)? else {
        return Ok(false);
    };
    if lease.owner == super::leases::me() || super::leases::is_dead(journal, &lease.owner) {
        return Ok(false);
    }
    if !journal.request_cancel(&record.id, reason)? {
        return Ok(false);
    }
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        if journal.find_run(&record.id)?.status.is_final() {
            return Ok(true);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(false)
}

/// Records the answer to what a suspended run waits for (an approval or a
/// signal), durably, and makes the run ready to go on; refuses a run that
/// is not waiting for that, and a second answer.
fn record_answer(
    journal: &dyn Journal,
    run: &str,
    kind: EntryKind,
    signal: Option<&str>,
    answer: String,
) -> Result<(RunRecord, Waiting), AnswerError> {
    let record = journal.find_run(run)?;
    let id = &record.id;
    let entries = journal.entries(id)?;
    let what = match signal {
        Some(name) => format!("the signal `{name}`"),
        None => "an approval".to_string(),
    };
    let Some(waiting) = Waiting::of_run(&entries) else {
        // Say why: answered already, or not waiting at all.
        if let Some(last) = entries.last().filter(|e| e.kind == kind) {
            let by = last
                .response
                .as_deref()
                .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
                .map(|v| {
                    format!(
                        " ({} by {})",
                        v["decision"].as_str().unwrap_or("answered"),
                        v["by"].as_str().unwrap_or("someone")
                    )
                })
                .unwrap_or_default();
            return Err(AnswerError::Refused(format!(
                "entry #{} of run {id} was already answered{by}; a second answer is refused",
                last.seq
            )));
        }
        return Err(AnswerError::Refused(format!(
            "run {id} is not waiting for {what} (it is {}); `relive runs --waiting` lists waiting runs",
            record.status
        )));
    };
    if waiting.kind != kind || signal.is_some_and(|n| n != waiting.name) {
        return Err(AnswerError::Refused(format!(
            "run {id} is waiting for {waiting}, not for {what}"
        )));
    }
    // One transaction: the entry is completed only if it is still an
    // unanswered wait, and the run is made ready with it, so an answer
    // that arrives while the run is suspending is never lost.
    journal
        .answer(id, waiting.seq, kind, answer)
        .wait_blocking()?;
    Ok((record, waiting))
}
