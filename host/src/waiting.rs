//! What a suspended run waits for, read from its journal: the last entry,
//! when it is an approval, a timer or a signal that has not been answered.

use crate::journal::{Entry, EntryKind, EntryState, Journal, JournalError, RunRecord};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An unanswered wait.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The journal entry that waits.
    pub seq: u64,
    pub kind: EntryKind,
    /// The approval's action, or the signal's name ("" for timers).
    pub name: String,
    /// When a timer is due, or a signal times out (Unix ms).
    pub until_ms: Option<i64>,
    /// What the agent asked the approver (approvals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// The request of a timer entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TimerRequest {
    pub until_ms: i64,
}

/// The request of a signal entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SignalRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// The request of an approval entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub action: String,
    pub details: String,
}

impl Waiting {
    /// What `entry` waits for, if it is an unanswered wait.
    pub fn of(entry: &Entry) -> Option<Waiting> {
        if entry.state != EntryState::Started || !entry.kind.is_wait() {
            return None;
        }
        let (until_ms, details) = match entry.kind {
            EntryKind::Timer => (
                serde_json::from_str::<TimerRequest>(&entry.request)
                    .ok()
                    .map(|r| r.until_ms),
                None,
            ),
            EntryKind::Signal => (
                serde_json::from_str::<SignalRequest>(&entry.request)
                    .ok()
                    .and_then(|r| r.timeout_ms)
                    // A timeout near u64::MAX saturates: it never comes.
                    .map(|t| {
                        entry
                            .started_at_ms
                            .saturating_add(i64::try_from(t).unwrap_or(i64::MAX))
                    }),
                None,
            ),
            _ => (
                None,
                serde_json::from_str::<ApprovalRequest>(&entry.request)
                    .ok()
                    .map(|r| r.details),
            ),
        };
        Some(Waiting {
            seq: entry.seq,
            kind: entry.kind,
            name: entry.name.clone(),
            until_ms,
            details,
        })
    }

    /// What the last entry of a run waits for.
    pub fn of_run(entries: &[Entry]) -> Option<Waiting> {
        entries.last().and_then(Waiting::of)
    }

    /// The commands that answer this wait, for messages.
    pub fn how_to_continue(&self, run: &str) -> String {
        match self.kind {
            EntryKind::Approval => format!(
                "approve with `relive approve {run} [--note TEXT]` or reject with `relive reject {run} --reason TEXT`, then `relive resume {run}`"
            ),
            EntryKind::Timer => format!(
                "`relive resume {run}` continues it when the time comes (it waits until then), or now with `relive resume {run} --now`"
            ),
            _ => format!(
                "send it with `relive signal {run} {} [--data JSON]`, then `relive resume {run}`",
                self.name
            ),
        }
    }
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = |ms: i64| crate::cli::timestamp(ms);
        match (self.kind, self.until_ms) {
            (EntryKind::Approval, _) => write!(f, "approval of `{}`", self.name),
            (EntryKind::Timer, Some(t)) => write!(f, "timer until {} UTC", when(t)),
            (EntryKind::Signal, Some(t)) => {
                write!(f, "signal `{}` (times out at {} UTC)", self.name, when(t))
            }
            (EntryKind::Signal, None) => write!(f, "signal `{}`", self.name),
            _ => write!(f, "{}", self.kind),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12.8: a signal timeout near `u64::MAX` saturates: the wait never
    /// times out (it wrapped to a time in the past, so the run woke at once
    /// with `timed_out`).
    #[test]
    fn a_huge_signal_timeout_saturates() {
        for timeout in [u64::MAX, u64::MAX - 5, i64::MAX as u64 + 1] {
            let request = serde_json::to_string(&SignalRequest {
                name: "go".into(),
                timeout_ms: Some(timeout),
            })
            .unwrap();
            let entry = Entry::new(0, EntryKind::Signal, "go", request);
            let waiting = Waiting::of(&entry).unwrap();
            assert_eq!(waiting.until_ms, Some(i64::MAX), "timeout {timeout}");
        }
    }
}
