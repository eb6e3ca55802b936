//! Waits: what a suspended run waits for (its last entry, when it is an
//! approval, a timer or a signal that has not been answered), and the
//! typed requests and answers such entries hold.

use super::{Entry, EntryKind, EntryState};
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

/// The request of a join entry: the child runs it waits for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    pub children: Vec<String>,
}

/// The answer to a join entry: how each child ended, in order, and what the
/// children used (their own calls and their children's), which counts
/// toward the parent's budgets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JoinAnswer {
    pub results: Vec<ChildResult>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cost: f64,
}

/// How one child ended.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum ChildResult {
    Completed { child: String, output: String },
    Failed { child: String, error: String },
    Cancelled { child: String, error: String },
}

/// The answer to a spawn entry: the child's run id, or why it was not
/// started.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SpawnAnswer {
    Child(String),
    Denied(String),
}

/// The answer to an approval entry, as `relive approve` / `reject` (or the
/// API) record it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum ApprovalAnswer {
    Approved {
        /// The action's details as the approver edited them, if they did.
        #[serde(default)]
        details: Option<String>,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        at_ms: Option<i64>,
    },
    Rejected {
        reason: String,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        at_ms: Option<i64>,
    },
}

/// The answer to a signal entry: the payload delivered, or the wait's
/// timeout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SignalAnswer {
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
}

impl SignalAnswer {
    /// A signal wait that timed out.
    pub fn timed_out() -> SignalAnswer {
        SignalAnswer {
            payload: None,
            timed_out: true,
            by: None,
            at_ms: None,
        }
    }
}

/// The answer to a timer entry: when it woke, and whether before its time
/// (`relive resume --now`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TimerAnswer {
    pub woke_at_ms: i64,
    pub early: bool,
}

/// Answers are stored as JSON, the form every backend and export keeps.
pub trait AnswerJson: Serialize {
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("answers serialise")
    }
}

impl AnswerJson for ApprovalAnswer {}
impl AnswerJson for SignalAnswer {}
impl AnswerJson for TimerAnswer {}
impl AnswerJson for JoinAnswer {}
impl AnswerJson for SpawnAnswer {}

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
            EntryKind::Join => (
                None,
                serde_json::from_str::<JoinRequest>(&entry.request)
                    .ok()
                    .map(|r| r.children.join(", ")),
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
            EntryKind::Join => format!(
                "it goes on when its child runs end; `relive runs --parent {run}` lists them, `relive resume {run}` runs them here"
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
        let when = super::utc;
        match (self.kind, self.until_ms) {
            (EntryKind::Approval, _) => write!(f, "approval of `{}`", self.name),
            (EntryKind::Timer, Some(t)) => write!(f, "timer until {} UTC", when(t)),
            (EntryKind::Signal, Some(t)) => {
                write!(f, "signal `{}` (times out at {} UTC)", self.name, when(t))
            }
            (EntryKind::Signal, None) => write!(f, "signal `{}`", self.name),
            (EntryKind::Join, _) => write!(
                f,
                "child runs {}",
                self.details.as_deref().unwrap_or("(none)")
            ),
            _ => write!(f, "{}", self.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers recorded before they were typed still read.
    #[test]
    fn answers_of_every_recorded_form_read() {
        let approved: ApprovalAnswer = serde_json::from_str(
            r#"{"decision":"approved","details":null,"note":"ok","by":"ann","at_ms":5}"#,
        )
        .unwrap();
        assert!(
            matches!(approved, ApprovalAnswer::Approved { note: Some(ref n), .. } if n == "ok")
        );
        let rejected: ApprovalAnswer =
            serde_json::from_str(r#"{"decision":"rejected","reason":"no","by":"bob","at_ms":6}"#)
                .unwrap();
        assert!(matches!(rejected, ApprovalAnswer::Rejected { ref reason, .. } if reason == "no"));
        let signal: SignalAnswer =
            serde_json::from_str(r#"{"payload":"7","by":"ann","at_ms":1}"#).unwrap();
        assert_eq!(signal.payload.as_deref(), Some("7"));
        let timeout: SignalAnswer =
            serde_json::from_str(r#"{"payload":null,"timed_out":true}"#).unwrap();
        assert_eq!(timeout, SignalAnswer::timed_out());
        assert_eq!(
            SignalAnswer::timed_out().to_json(),
            r#"{"payload":null,"timed_out":true}"#
        );
        let timer: TimerAnswer = serde_json::from_str(r#"{"woke_at_ms":9,"early":false}"#).unwrap();
        assert_eq!(timer.to_json(), r#"{"woke_at_ms":9,"early":false}"#);
    }

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
