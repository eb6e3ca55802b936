//! The journal's data model: runs, entries and what they hold. Plain data,
//! stored by every backend the same way and written to export files.

use super::ids::{digest_hex, now_ms};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What kind of host call an entry records.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// `llm.chat`.
    Llm,
    /// `tools.call`.
    Tool,
    /// `tools.list`: the granted tools may change between crash and resume.
    ToolList,
    /// `wasi:clocks` wall-clock or monotonic-clock reads.
    Clock,
    /// `wasi:random/random` reads.
    Random,
    /// `log.log` progress events.
    Log,
    /// `approval.request`: waits for a person's decision.
    Approval,
    /// `timers.sleep` / `sleep-until`: waits for a time.
    Timer,
    /// `signals.wait`: waits for an outside event.
    Signal,
    /// `patches.patched`: a patch marker.
    Patch,
    /// `wasi:io/poll`: which of the guest's pollables were ready (its own
    /// sleeps and timers), so a replay answers at once instead of waiting.
    Poll,
    /// `agents.spawn` (and the first half of `agents.call`): a child run
    /// started.
    Spawn,
    /// `agents.join` (and the second half of `agents.call`): waits for
    /// child runs to end.
    Join,
}

impl EntryKind {
    pub const ALL: [EntryKind; 13] = [
        EntryKind::Llm,
        EntryKind::Tool,
        EntryKind::ToolList,
        EntryKind::Clock,
        EntryKind::Random,
        EntryKind::Log,
        EntryKind::Approval,
        EntryKind::Timer,
        EntryKind::Signal,
        EntryKind::Patch,
        EntryKind::Poll,
        EntryKind::Spawn,
        EntryKind::Join,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Llm => "llm",
            EntryKind::Tool => "tool",
            EntryKind::ToolList => "tool-list",
            EntryKind::Clock => "clock",
            EntryKind::Random => "random",
            EntryKind::Log => "log",
            EntryKind::Approval => "approval",
            EntryKind::Timer => "timer",
            EntryKind::Signal => "signal",
            EntryKind::Patch => "patch",
            EntryKind::Poll => "poll",
            EntryKind::Spawn => "spawn",
            EntryKind::Join => "join",
        }
    }

    /// Calls that suspend the run until something outside answers.
    pub fn is_wait(self) -> bool {
        matches!(
            self,
            EntryKind::Approval | EntryKind::Timer | EntryKind::Signal | EntryKind::Join
        )
    }

    /// Local reads: nothing outside the sandbox sees them, so they may be
    /// committed lazily (DESIGN §3, rule 3).
    pub fn is_local(self) -> bool {
        matches!(
            self,
            EntryKind::Clock
                | EntryKind::Random
                | EntryKind::Log
                | EntryKind::Patch
                | EntryKind::Poll
        )
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EntryKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown entry kind `{s}`"))
    }
}

/// Whether the call an entry records has finished.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    /// Written before the effect started; a crash leaves it so.
    Started,
    /// The result is recorded.
    Completed,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Started => "started",
            EntryState::Completed => "completed",
        }
    }
}

impl FromStr for EntryState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "started" => Ok(EntryState::Started),
            "completed" => Ok(EntryState::Completed),
            _ => Err(format!("unknown entry state `{s}`")),
        }
    }
}

/// Where a run stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Working, or interrupted by a crash (resume it).
    Running,
    /// Waiting for an approval, a timer or a signal.
    Suspended,
    /// `run` returned `Ok`.
    Completed,
    /// `run` returned `Err`, trapped, or an operator failed it.
    Failed,
    /// Replay met a call that differs from the journal.
    Diverged,
    /// A non-idempotent tool call was interrupted; an operator must decide.
    Uncertain,
    /// Stopped by an operator before it finished.
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Running,
        RunStatus::Suspended,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Diverged,
        RunStatus::Uncertain,
        RunStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Suspended => "suspended",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Diverged => "diverged",
            RunStatus::Uncertain => "uncertain",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the run can do no more work.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Diverged | RunStatus::Cancelled
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RunStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown run status `{s}`"))
    }
}

/// An operator's decision about an interrupted non-idempotent call
/// (`relive resolve`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase", tag = "decision")]
pub enum Resolution {
    /// Run the call again.
    Retry { at_ms: i64 },
    /// Use this result instead of running the call (a JSON document).
    Result { at_ms: i64 },
    /// Fail the run.
    Fail { at_ms: i64 },
}

/// A failed attempt of a call that was retried (metadata: replay never
/// returns it; it shows what the call cost and why it was slow).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Why it failed.
    pub error: String,
    /// How long the host waited before the next attempt.
    pub retry_in_ms: u64,
    /// When it failed (host time, Unix ms).
    pub at_ms: i64,
}

/// Tokens used by one LLM call, as the journal records them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// What completes a started entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    /// What the guest is given back, as JSON.
    pub response: String,
    pub usage: Option<Usage>,
    /// Failed attempts before the one that produced `response`.
    pub attempts: Vec<Attempt>,
}

/// One recorded host call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Entry {
    /// Position in the run, from 0.
    pub seq: u64,
    pub kind: EntryKind,
    /// Tool name, model name, clock name, log level...
    pub name: String,
    /// SHA-256 of `request`, hex.
    pub request_digest: String,
    /// The call's arguments, as JSON.
    pub request: String,
    /// What the guest was given back, as JSON (`None` while started).
    pub response: Option<String>,
    pub state: EntryState,
    /// Host wall-clock time, milliseconds since the Unix epoch (metadata
    /// only; the guest never sees it).
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
}

impl Entry {
    /// A new entry, digest computed from `request`.
    pub fn new(seq: u64, kind: EntryKind, name: impl Into<String>, request: String) -> Entry {
        Entry {
            seq,
            kind,
            name: name.into(),
            request_digest: digest_hex(request.as_bytes()),
            request,
            response: None,
            state: EntryState::Started,
            started_at_ms: now_ms(),
            finished_at_ms: None,
            usage: None,
            resolution: None,
            attempts: Vec::new(),
        }
    }
}

/// A run, as stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: String,
    /// The agent's name (its `[agents.NAME]` table).
    pub agent: String,
    /// `sha256:<hex>` of the component the run is pinned to.
    pub component_digest: String,
    pub input: String,
    pub status: RunStatus,
    pub output: Option<String>,
    pub error: Option<String>,
    /// The relive.toml the run was started with, if any.
    pub config_path: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// What shapes the run's journal and its crash policy (which tools are
    /// idempotent, which need approval, the limits), fixed when the run
    /// started, so that editing relive.toml never changes an old run.
    /// `None` for runs recorded before relive kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<serde_json::Value>,
    /// The run that started this one (`agents.spawn`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::new_run_id;

    #[test]
    fn kinds_and_statuses_round_trip() {
        for k in EntryKind::ALL {
            assert_eq!(k.as_str().parse::<EntryKind>().unwrap(), k);
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
        }
        assert!("bogus".parse::<EntryKind>().is_err());
    }

    #[test]
    fn run_ids_are_distinct_and_well_formed() {
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), 13);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    /// Found by the PostgreSQL benchmark: with 25 random bits, runs
    /// created in one second by a burst of submissions (600–1,000 a
    /// second under `relive serve`) shared an id now and then, and the
    /// second `POST /v1/runs` failed with a unique-constraint error.
    #[test]
    fn a_burst_of_run_ids_in_one_second_has_no_duplicates() {
        let ids: std::collections::HashSet<String> = (0..20_000).map(|_| new_run_id()).collect();
        assert_eq!(ids.len(), 20_000);
    }
}
