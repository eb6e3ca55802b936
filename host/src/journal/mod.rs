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
/// The fence of a run created without a lease (generation 0), for tests.
#[cfg(test)]
fn fence(run_id: &str) -> Fence {
    Fence {
        run_id: run_id.to_string(),
        generation: 0,
    }
}
pub mod sqlite;
#[cfg(test)]
mod sqlite_tests;

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
    /// `wasi:io/poll`: which of the guest's pollables were ready (its own
    /// sleeps and timers), so a replay answers at once instead of waiting.
    Poll,
}

impl EntryKind {
    pub const ALL: [EntryKind; 11] = [
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
    /// An operator's action that the run's state does not allow (answered
    /// already, not waiting, final, executed elsewhere); the message says why.
    #[error("{0}")]
    Refused(String),
    /// A write by a process whose lease on the run was taken over: another
    /// process executes the run now, and this write must not land.
    #[error(
        "run {run_id} is executed by another relive process now (its lease was taken over: generation {current}, this process held {held}); this process's write was refused"
    )]
    LeaseLost {
        run_id: String,
        held: u64,
        current: u64,
    },
    /// The journal writer stopped after an error; nothing more can be written.
    #[error("the journal writer failed and stopped: {0}")]
    WriterFailed(String),
    #[error("{0}")]
    Other(String),
}

/// A pending write: await it to know it is committed, or drop it.
#[must_use = "await the commit, or drop it explicitly for lazy writes"]
pub struct Commit(oneshot::Receiver<Result<(), JournalError>>);

impl Commit {
    pub(crate) fn new(rx: oneshot::Receiver<Result<(), JournalError>>) -> Commit {
        Commit(rx)
    }

    /// A commit that has already failed with `error`.
    pub fn failed(error: JournalError) -> Commit {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Err(error));
        Commit(rx)
    }

    /// Waits until the write is committed with its durability.
    pub async fn wait(self) -> Result<(), JournalError> {
        match self.0.await {
            Ok(result) => result,
            Err(_) => Err(JournalError::WriterGone),
        }
    }

    /// Same as [`Commit::wait`], for code outside the async runtime.
    pub fn wait_blocking(self) -> Result<(), JournalError> {
        match self.0.blocking_recv() {
            Ok(result) => result,
            Err(_) => Err(JournalError::WriterGone),
        }
    }

    /// Same as [`Commit::wait`], from synchronous code that may run on an
    /// async runtime's thread (a synchronous host call): parks the thread
    /// until the writer thread answers. Use only for short waits, such as
    /// backpressure on a guest that writes faster than the journal commits.
    pub fn wait_parked(self) -> Result<(), JournalError> {
        use std::future::Future;
        use std::task::{Context, Poll, Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut rx = self.0;
        loop {
            match std::pin::Pin::new(&mut rx).poll(&mut cx) {
                Poll::Ready(Ok(result)) => return result,
                Poll::Ready(Err(_)) => return Err(JournalError::WriterGone),
                Poll::Pending => std::thread::park(),
            }
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
    /// The run's policy (see [`RunRecord::policy`]).
    pub policy: Option<serde_json::Value>,
    /// Held from creation by the process that will execute the run: the
    /// owner's instance id and how long the lease holds. The run's first
    /// [`Fence`] is `Fence::first(id)`.
    pub lease: Option<(String, std::time::Duration)>,
}

/// Who executes a run, until when (see `crate::lease`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The owner's instance id.
    pub owner: String,
    pub expires_at_ms: i64,
    /// Incremented by every claim of the run.
    pub generation: u64,
}

/// The right to write into a run while executing it: the lease generation
/// of the claim that gave it. Every claim of a run increments the
/// generation, and the journal refuses a write that carries an older one,
/// so a process that lost its lease (paused, slow, cut off) can never write
/// into a run that another process now owns (DESIGN §11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub run_id: String,
    pub generation: u64,
}

impl Fence {
    /// The fence of a run created with a lease: its first claim.
    pub fn first(run_id: &str) -> Fence {
        Fence {
            run_id: run_id.to_string(),
            generation: 1,
        }
    }
}

/// A run that is ready to be worked on and not leased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyRun {
    pub id: String,
    pub ready_at_ms: i64,
}

/// A change of a run's status made by the process that executes it.
#[derive(Clone, Debug, PartialEq)]
pub enum StatusChange {
    /// Running again (a resumed run); ready now, the lease is kept.
    Running,
    /// Waiting for entry `seq` to be answered. Ready at `until_ms` (a timer,
    /// a signal's timeout), or at once if the entry was answered already
    /// (an answer that arrived while the run was suspending), else when an
    /// answer arrives. The lease is given up.
    Suspended { seq: u64, until_ms: Option<i64> },
    /// Ended: completed, failed, diverged or uncertain. The lease is given up.
    Ended {
        status: RunStatus,
        output: Option<String>,
        error: Option<String>,
    },
}

/// An operator's decision about an interrupted call, with the status the
/// run takes (one transaction: `relive resolve`).
#[derive(Clone, Debug, PartialEq)]
pub struct ResolveRequest {
    pub run_id: String,
    pub seq: u64,
    pub resolution: Resolution,
    /// With [`Resolution::Result`]: the response that completes the entry.
    pub response: Option<String>,
    /// With [`Resolution::Fail`]: the run's error.
    pub error: Option<String>,
}

/// Which runs to list, newest first, a page at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub status: Option<RunStatus>,
    /// Only runs of this agent.
    pub agent: Option<String>,
    /// Most runs returned.
    pub limit: usize,
    /// Only runs older than this one (its id): the cursor of the next page.
    pub before: Option<String>,
}

/// What a run's list and detail views need, without reading its journal:
/// how many entries, the last one (what a suspended run waits for), and
/// the tokens used per model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    pub entries: u64,
    pub last: Option<Entry>,
    pub usage: Vec<ModelUsage>,
}

/// Tokens of one model's calls in a run (`model` as the entries name it:
/// `default` for the agent's default model).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelUsage {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// What `relive prune` deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneRequest {
    /// Runs last updated before this time (Unix ms).
    pub updated_before_ms: i64,
    /// Runs in these statuses. Running, suspended and uncertain runs are only
    /// deleted with `force`.
    pub statuses: Vec<RunStatus>,
    pub force: bool,
    /// Count what would be deleted, delete nothing.
    pub dry_run: bool,
}

/// What a prune deleted (or would delete).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub runs: u64,
    pub entries: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub components: u64,
    pub component_bytes: u64,
}

/// A relive process, as it registers itself in the journal: how a lease
/// owner's liveness can be checked on the same machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Random, made at start-up; what leases name.
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// `/proc/sys/kernel/random/boot_id`: the same kernel boot.
    pub boot_id: String,
    /// The PID namespace (`/proc/self/ns/pid`): pids mean the same thing.
    pub pid_ns: String,
    /// The process's start time in clock ticks since boot: tells it from a
    /// later process that reused its pid.
    pub start_time: String,
}

/// The storage seam: what the replay engine and the CLI need of a journal.
///
/// Writes are applied in the order they are submitted. Writes made while
/// executing a run carry its [`Fence`] and are refused once another claim
/// took the run over. Operators' writes (answers, resolutions, cancels)
/// check the run's state in the same transaction as the write.
pub trait Journal: Send + Sync {
    /// Stores a component's bytes under its digest (no-op if present).
    fn put_component(&self, digest: &str, bytes: &[u8]) -> Commit;
    /// Creates a run in status `running`.
    fn create_run(&self, run: NewRun) -> Commit;
    /// Stores a run and its entries exactly as given (from a journal file),
    /// in one transaction; an unfinished run is ready at once.
    fn import_run(&self, run: RunRecord, entries: Vec<Entry>) -> Commit;
    /// Pins a run to another component (after an upgrade check).
    fn set_component(&self, fence: &Fence, digest: &str) -> Commit;
    /// Records the policy of a run that has none (recorded before relive kept it).
    fn set_policy(&self, fence: &Fence, policy: &serde_json::Value) -> Commit;
    /// Appends an entry (started or completed).
    fn append(&self, fence: &Fence, entry: Entry, durability: Durability) -> Commit;
    /// Records the result of a started entry.
    fn complete(
        &self,
        fence: &Fence,
        seq: u64,
        completion: Completion,
        durability: Durability,
    ) -> Commit;
    /// Changes the status of a run this process executes.
    fn set_status(&self, fence: &Fence, change: StatusChange, durability: Durability) -> Commit;
    /// Sets when a run this process executes is next ready to be worked on,
    /// and gives its lease up (a run the host could not execute: retried later).
    fn set_ready(&self, fence: &Fence, at_ms: Option<i64>) -> Commit;

    /// Records the answer to a wait (entry `seq`, an approval or a signal)
    /// and makes the run ready, in one transaction; refused with
    /// [`JournalError::Refused`] if the entry is not an unanswered wait of `kind`.
    fn answer(&self, run_id: &str, seq: u64, kind: EntryKind, response: String) -> Commit;
    /// Records an operator's decision on an uncertain run's interrupted entry
    /// and its new status, in one transaction; refused unless the run is
    /// uncertain and the entry is started and unresolved.
    fn resolve(&self, request: ResolveRequest) -> Commit;
    /// Cancels a run that is not final, in one transaction with the check:
    /// refused if it is final, or leased by a live process other than
    /// `owner`. Bumps the lease generation, so that late writes of whoever
    /// executed it are refused.
    fn cancel(&self, run_id: &str, error: String, owner: Option<&str>) -> Commit;

    /// Takes the lease of a running or suspended run for `owner`, for `ttl`,
    /// if it has none, it has expired (on the journal's clock), it is
    /// already `owner`'s, or it is held by `take_from` (an owner known to be
    /// dead). Every claim increments the lease generation; returns the
    /// fence of this claim, or `None`.
    fn claim(
        &self,
        run_id: &str,
        owner: &str,
        ttl: std::time::Duration,
        take_from: Option<&str>,
    ) -> Result<Option<Fence>, JournalError>;
    /// Extends every lease `owner` holds by `ttl` from now; returns how many.
    fn renew_leases(&self, owner: &str, ttl: std::time::Duration) -> Result<usize, JournalError>;
    /// Gives a lease up; the run becomes ready at once (for another process).
    fn release(&self, fence: &Fence) -> Result<(), JournalError>;
    /// Running or suspended runs that are ready now and whose lease is free
    /// or expired (on the journal's clock), earliest first.
    fn ready_runs(&self, limit: usize) -> Result<Vec<ReadyRun>, JournalError>;
    /// Everyone who holds a lease.
    fn lease_owners(&self) -> Result<Vec<String>, JournalError>;
    /// Frees every lease of `owner` (a process known to be dead); its runs
    /// become ready at once. Returns how many.
    fn break_leases(&self, owner: &str) -> Result<usize, JournalError>;
    /// How long until the next run becomes ready, if any will: a leased
    /// run, when its lease expires.
    fn next_ready_in(&self) -> Result<Option<std::time::Duration>, JournalError>;
    /// The current lease of a run, if any.
    fn lease(&self, run_id: &str) -> Result<Option<Lease>, JournalError>;
    /// Registers (or refreshes) a relive process, so that others can tell
    /// whether it is alive.
    fn register_instance(&self, instance: &Instance) -> Result<(), JournalError>;
    /// A registered process by id.
    fn instance(&self, id: &str) -> Result<Option<Instance>, JournalError>;

    /// A run by exact id, or by a unique prefix of its id.
    fn find_run(&self, id_or_prefix: &str) -> Result<RunRecord, JournalError>;
    /// A page of runs, newest first.
    fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, JournalError>;
    /// A run's entries in order.
    fn entries(&self, run_id: &str) -> Result<Vec<Entry>, JournalError>;
    /// A run's entry count, last entry and token use, read without the
    /// rest of its journal.
    fn summary(&self, run_id: &str) -> Result<RunSummary, JournalError>;
    /// A component's bytes by digest.
    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, JournalError>;

    /// Deletes finished runs (and, with `force`, unfinished ones), the
    /// blobs no entry uses any more and the components no run uses.
    fn prune(&self, request: &PruneRequest) -> Result<PruneReport, JournalError>;
    /// Bytes of writes queued and not yet committed, for backpressure.
    fn backlog_bytes(&self) -> usize;
    /// Whether the journal can still write: `Err` once its writer died.
    fn health(&self) -> Result<(), JournalError>;
}

/// All runs matching `status`, newest first, read a page at a time.
pub fn all_runs(
    journal: &dyn Journal,
    status: Option<RunStatus>,
) -> Result<Vec<RunRecord>, JournalError> {
    let mut all = Vec::new();
    let mut query = RunQuery {
        status,
        limit: 1000,
        ..RunQuery::default()
    };
    loop {
        let page = journal.runs(&query)?;
        let full = page.len() == query.limit;
        query.before = page.last().map(|r| r.id.clone());
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
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
