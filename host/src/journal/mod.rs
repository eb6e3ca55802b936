//! The journal: every call that crossed the sandbox wall, in order.
//!
//! This module is the data model and the storage seam. [`Journal`] is what
//! the replay engine and the CLI talk to; [`sqlite::SqliteJournal`] is the
//! implementation (DESIGN §3). A second backend implements the same trait
//! without touching the replay engine.
//!
//! Writes are ordered and return a [`Commit`]: await it when the caller must
//! not go on before the write is committed (an external result before the
//! guest sees it), or drop it for local reads (clock, random, log), which the
//! writer commits with the next batch.

mod blobs;
pub mod export;
#[cfg(test)]
mod robustness_tests;
pub mod sqlite;
#[cfg(test)]
mod sqlite_tests;
mod writer;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tokio::sync::oneshot;

pub use sqlite::SqliteJournal;

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
}

impl EntryKind {
    pub const ALL: [EntryKind; 10] = [
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
        }
    }

    /// Calls that suspend the run until something outside answers.
    pub fn is_wait(self) -> bool {
        matches!(
            self,
            EntryKind::Approval | EntryKind::Timer | EntryKind::Signal
        )
    }

    /// Local reads: nothing outside the sandbox sees them, so they may be
    /// committed lazily (DESIGN §3, rule 3).
    pub fn is_local(self) -> bool {
        matches!(
            self,
            EntryKind::Clock | EntryKind::Random | EntryKind::Log | EntryKind::Patch
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

/// What completes a started entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    /// What the guest is given back, as JSON.
    pub response: String,
    pub usage: Option<crate::llm::Usage>,
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
    pub usage: Option<crate::llm::Usage>,
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
}

/// How hard a write must hold before its [`Commit`] resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durability {
    /// Committed with whatever batch comes next; nobody waits for it.
    Lazy,
    /// Committed to the WAL: survives a killed process, not a power loss.
    Commit,
    /// Committed and fsynced: survives a power loss.
    Sync,
}

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "{path} is not a relive journal: it is not an SQLite database (corrupt, or another kind of file); pass --db with a new path to start a new journal"
    )]
    NotADatabase { path: String },
    #[error(
        "{path} is an SQLite database but not a relive journal (it holds tables: {tables}); pass --db with a new path to start a new journal"
    )]
    Foreign { path: String, tables: String },
    #[error(
        "{path} was written by a newer relive (journal schema {found}, this relive knows up to {known}); upgrade relive"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("no run with id `{0}`; `relive runs` lists the runs in this journal")]
    UnknownRun(String),
    #[error("run id prefix `{prefix}` is ambiguous: it matches {matches}")]
    AmbiguousRun { prefix: String, matches: String },
    #[error("the journal writer has stopped")]
    WriterGone,
    #[error("journal entry {run_id}#{seq} is damaged: {message}")]
    Damaged {
        run_id: String,
        seq: u64,
        message: String,
    },
    #[error("journal database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("{0}")]
    Other(String),
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError::Sqlite(e)
    }
}

/// A pending write: await it to know it is committed, or drop it.
#[must_use = "await the commit, or drop it explicitly for lazy writes"]
pub struct Commit(oneshot::Receiver<Result<(), String>>);

impl Commit {
    pub(crate) fn new(rx: oneshot::Receiver<Result<(), String>>) -> Commit {
        Commit(rx)
    }

    /// Waits until the write is committed with its durability.
    pub async fn wait(self) -> Result<(), JournalError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(JournalError::Other(message)),
            Err(_) => Err(JournalError::WriterGone),
        }
    }

    /// Same as [`Commit::wait`], for code outside the async runtime.
    pub fn wait_blocking(self) -> Result<(), JournalError> {
        match self.0.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(JournalError::Other(message)),
            Err(_) => Err(JournalError::WriterGone),
        }
    }
}

/// Everything a new run needs.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub id: String,
    pub agent: String,
    pub component_digest: String,
    pub input: String,
    pub config_path: Option<String>,
    /// Held from creation by the process that will execute the run.
    pub lease: Option<Lease>,
}

/// Who executes a run, until when (see `crate::lease`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub expires_at_ms: i64,
}

/// A run that is ready to be worked on and not leased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyRun {
    pub id: String,
    pub ready_at_ms: i64,
}

/// The storage seam: what the replay engine and the CLI need of a journal.
///
/// Writes are applied in the order they are submitted.
pub trait Journal: Send + Sync {
    /// Stores a component's bytes under its digest (no-op if present).
    fn put_component(&self, digest: &str, bytes: &[u8]) -> Commit;
    /// Creates a run in status `running`.
    fn create_run(&self, run: NewRun) -> Commit;
    /// Stores a run and its entries exactly as given (from a journal file),
    /// in one transaction.
    fn import_run(&self, run: RunRecord, entries: Vec<Entry>) -> Commit;
    /// Pins a run to another component (after an upgrade check).
    fn set_component(&self, run_id: &str, digest: &str) -> Commit;
    /// Appends an entry (started or completed).
    fn append(&self, run_id: &str, entry: Entry, durability: Durability) -> Commit;
    /// Records the result of a started entry.
    fn complete(
        &self,
        run_id: &str,
        seq: u64,
        completion: Completion,
        durability: Durability,
    ) -> Commit;
    /// Records an operator's decision on a started entry; with
    /// `Resolution::Result`, `response` completes the entry.
    fn resolve(
        &self,
        run_id: &str,
        seq: u64,
        resolution: Resolution,
        response: Option<String>,
    ) -> Commit;
    /// Sets a run's status and, for final states, its output or error.
    fn set_status(
        &self,
        run_id: &str,
        status: RunStatus,
        output: Option<String>,
        error: Option<String>,
        durability: Durability,
    ) -> Commit;

    /// Sets when a run is next ready to be worked on (`None`: only when an
    /// answer arrives). `set_status` already makes running runs ready now
    /// and every other status not ready.
    fn set_ready(&self, run_id: &str, at_ms: Option<i64>, durability: Durability) -> Commit;

    /// Takes the lease of a running or suspended run for `lease.owner`,
    /// if it has none, it has expired (before `now_ms`), it is already
    /// `lease.owner`'s, or it is held by `take_from` (an owner known to be
    /// dead). Returns whether the lease is now `lease.owner`'s.
    fn claim(
        &self,
        run_id: &str,
        lease: &Lease,
        now_ms: i64,
        take_from: Option<&str>,
    ) -> Result<bool, JournalError>;
    /// Extends every lease `owner` holds; returns how many.
    fn renew_leases(&self, owner: &str, expires_at_ms: i64) -> Result<usize, JournalError>;
    /// Gives a lease up; the run becomes ready at once (for another process).
    fn release(&self, run_id: &str, owner: &str) -> Result<(), JournalError>;
    /// Running or suspended runs that are ready by `now_ms` and whose lease
    /// is free or expired, earliest first.
    fn ready_runs(&self, now_ms: i64, limit: usize) -> Result<Vec<ReadyRun>, JournalError>;
    /// Everyone who holds a lease.
    fn lease_owners(&self) -> Result<Vec<String>, JournalError>;
    /// Frees every lease of `owner` (a process known to be dead); its runs
    /// become ready at once. Returns how many.
    fn break_leases(&self, owner: &str) -> Result<usize, JournalError>;
    /// When the next run becomes ready, if any will: a leased run, when
    /// its lease expires.
    fn next_ready_at(&self) -> Result<Option<i64>, JournalError>;
    /// The current lease of a run, if any.
    fn lease(&self, run_id: &str) -> Result<Option<Lease>, JournalError>;

    /// A run by exact id, or by a unique prefix of its id.
    fn find_run(&self, id_or_prefix: &str) -> Result<RunRecord, JournalError>;
    /// All runs, newest first.
    fn runs(&self) -> Result<Vec<RunRecord>, JournalError>;
    /// A run's entries in order.
    fn entries(&self, run_id: &str) -> Result<Vec<Entry>, JournalError>;
    /// A component's bytes by digest.
    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, JournalError>;
}

/// `sha256:<hex>` of `bytes`, the form used for component digests.
pub fn component_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", digest_hex(bytes))
}

/// Hex SHA-256 of `bytes`.
pub fn digest_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Host wall-clock milliseconds since the Unix epoch (journal metadata).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new run id: ten characters of lowercase Crockford base32, the first
/// five ordered by creation time so ids sort roughly by age.
pub fn new_run_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let seconds = (now_ms() / 1000) as u64;
    let random: u64 = rand::random();
    let mut id = String::with_capacity(10);
    for i in (0..5).rev() {
        id.push(ALPHABET[((seconds >> (i * 5)) & 31) as usize] as char);
    }
    for i in 0..5 {
        id.push(ALPHABET[((random >> (i * 5)) & 31) as usize] as char);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a.len(), 10);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
