//! The journal: every call that crossed the sandbox wall, in order.
//!
//! This folder is the bottom of relive: it imports nothing else of it. It
//! holds the data model (`model.rs`, `waits.rs`, `requests.rs`), the
//! storage seam — the [`Journal`] trait, in relive's own terms (no SQL, no
//! WAL) — the export format (`export.rs`), and the SQLite backend
//! (`sqlite/`). A second backend implements the same trait without
//! touching the engine above it: the PostgreSQL backend (`postgres/`) is
//! one, for several processes on several hosts sharing one database.
//! Everything outside opens a journal with [`open`], given a [`Location`]:
//! a path (SQLite) or a `postgres://` URL.
//!
//! Writes are ordered and return a [`Commit`]: await it when the caller must
//! not go on before the write is committed (an external result before the
//! guest sees it), or drop it for local reads (clock, random, log), which the
//! writer commits with the next batch.

mod blobs;
mod commit;
mod error;
pub mod export;
mod ids;
pub mod migrate;
mod model;
mod ops;
pub mod postgres;
mod requests;
mod rows;
pub mod sqlite;
mod waits;

#[cfg(test)]
mod backends;
#[cfg(test)]
mod claims_tests;
#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod sqlite_tests;

pub use commit::{Commit, Durability, SyncPolicy};
pub use error::JournalError;
pub use ids::{component_digest, digest_hex, new_run_id, now_ms, utc};
pub use model::{
    Attempt, Completion, Entry, EntryKind, EntryState, Resolution, RunRecord, RunStatus, Usage,
};
pub use requests::{
    Fence, Instance, JournalEvent, Lease, ModelUsage, NewRun, PruneReport, PruneRequest, ReadyRun,
    ResolveRequest, RunQuery, RunSummary, StatusChange,
};
pub use waits::{
    AnswerJson, ApprovalAnswer, ApprovalRequest, ChildResult, JoinAnswer, JoinRequest,
    SignalAnswer, SignalRequest, SpawnAnswer, TimerAnswer, TimerRequest, Waiting,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to open a journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the journal if there is none (else its absence is an error
    /// that says how to make one).
    pub create: bool,
    pub sync: SyncPolicy,
}

/// Where a journal lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database: a `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl Location {
    /// A URL that starts with `postgres://` or `postgresql://` names a
    /// PostgreSQL database; anything else is a file path.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_string())
        } else {
            Location::Sqlite(PathBuf::from(text))
        }
    }

    /// How to show it: a path, or the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => postgres::redact(url),
        }
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Location {
        match path.to_str() {
            Some(text) => Location::parse(text),
            None => Location::Sqlite(path.to_path_buf()),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::from(path.as_path())
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Location {
        Location::from(path.as_path())
    }
}

/// Opens the journal at `location` — a file path (SQLite) or a
/// `postgres://` URL — with `options`. The one way in for everything
/// outside this folder: the CLI, the service, the testing library, the
/// tests and the benchmarks.
pub fn open(
    location: impl Into<Location>,
    options: OpenOptions,
) -> Result<Arc<dyn Journal>, JournalError> {
    Ok(match location.into() {
        Location::Sqlite(path) if options.create => {
            Arc::new(sqlite::SqliteJournal::open(&path, options.sync)?)
        }
        Location::Sqlite(path) => Arc::new(sqlite::SqliteJournal::open_existing_with(
            &path,
            options.sync,
        )?),
        Location::Postgres(url) => Arc::new(postgres::PgJournal::open(
            &url,
            options.sync,
            options.create,
        )?),
    })
}

/// What a journal is, for messages and checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalInfo {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Where it lives: a path, or a URL without its password.
    pub location: String,
    pub sync: SyncPolicy,
    /// Bytes it takes on disk, if the backend knows.
    pub bytes: Option<u64>,
}

/// The fence of a run created without a lease (generation 0), for tests.
#[cfg(test)]
fn fence(run_id: &str) -> Fence {
    Fence {
        run_id: run_id.to_string(),
        generation: 0,
    }
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
    /// Succeeds only while `fence` is the run's latest claim: a write of
    /// nothing, made before a process repeats an interrupted call, so that
    /// a process that lost the run never repeats it.
    fn confirm(&self, fence: &Fence) -> Commit;

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
    /// Claims up to `limit` runs that are ready now for `owner` (as
    /// [`Journal::claim`] does, each with a new generation), leaving out
    /// the runs in `skip`, earliest due first. Several processes claiming
    /// at once take different runs.
    fn claim_ready(
        &self,
        owner: &str,
        ttl: std::time::Duration,
        limit: usize,
        skip: &[String],
    ) -> Result<Vec<Fence>, JournalError> {
        let mut claimed = Vec::new();
        for run in self.ready_runs(limit + skip.len())? {
            if claimed.len() == limit {
                break;
            }
            if skip.contains(&run.id) {
                continue;
            }
            if let Some(fence) = self.claim(&run.id, owner, ttl, None)? {
                claimed.push(fence);
            }
        }
        Ok(claimed)
    }
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
    /// Rebuilds the storage to return space freed by pruning to the file
    /// system (SQLite's VACUUM).
    fn compact(&self) -> Result<(), JournalError>;
    /// What this journal is: backend, location, sync policy, size.
    fn info(&self) -> JournalInfo;
    /// Bytes of writes queued and not yet committed, for backpressure.
    fn backlog_bytes(&self) -> usize;
    /// Whether the journal can still write: `Err` once its writer died.
    fn health(&self) -> Result<(), JournalError>;

    /// What other processes do to the journal, as it happens, if this
    /// backend announces it (PostgreSQL: LISTEN/NOTIFY); `None` if changes
    /// made elsewhere are only seen by reading again.
    fn events(&self) -> Option<tokio::sync::broadcast::Receiver<JournalEvent>> {
        None
    }

    /// Asks the process that executes `run_id`, wherever it runs, to cancel
    /// it (it receives [`JournalEvent::CancelRequested`]). Returns whether
    /// the request was sent: `false` when this backend cannot reach other
    /// processes.
    fn request_cancel(&self, run_id: &str, reason: Option<&str>) -> Result<bool, JournalError> {
        let _ = (run_id, reason);
        Ok(false)
    }
}

/// All runs matching `status`, newest first, read a page at a time.
pub fn all_runs(
    journal: &dyn Journal,
    status: Option<RunStatus>,
) -> Result<Vec<RunRecord>, JournalError> {
    all_runs_where(
        journal,
        RunQuery {
            status,
            ..RunQuery::default()
        },
    )
}

/// All runs `query` matches (its `limit` and `before` aside), newest
/// first, read a page at a time.
pub fn all_runs_where(
    journal: &dyn Journal,
    mut query: RunQuery,
) -> Result<Vec<RunRecord>, JournalError> {
    let mut all = Vec::new();
    query.limit = 1000;
    query.before = None;
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
