//! What a suspended run waits for, read from its journal: the last entry,
//! when it is an approval, a timer or a signal that has not been answered.

use crate::journal::{Entry, EntryKind, EntryState};
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
                    .map(|t| entry.started_at_ms.saturating_add(t as i64)),
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
