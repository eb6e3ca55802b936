//! Operators' answers to runs that wait: approvals and signals. Each one is
//! one journal transaction that checks the wait is still open and makes the
//! run ready with the answer.

use crate::journal::{EntryKind, Journal, JournalError, RunRecord, Waiting};

/// Why an answer was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The run is not waiting for this answer, or was answered already.
    #[error("{0}")]
    Refused(String),
}

/// Records the answer to what a suspended run waits for (an approval or a
/// signal), durably, and makes the run ready to go on; refuses a run that
/// is not waiting for that, and a second answer.
pub fn answer(
    journal: &dyn Journal,
    run: &str,
    kind: EntryKind,
    signal: Option<&str>,
    answer: serde_json::Value,
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
        .answer(id, waiting.seq, kind, answer.to_string())
        .wait_blocking()
        .map_err(|e| match e {
            JournalError::Refused(message) => AnswerError::Refused(message),
            other => AnswerError::Journal(other),
        })?;
    Ok((record, waiting))
}
