//! What the journal's operations take and give: new runs, leases and
//! fences, status changes, decisions, queries, summaries, retention.

use super::{Entry, Resolution, RunStatus};
use serde::Serialize;

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
    /// The run that starts this one, for a child run.
    pub parent: Option<String>,
    /// Held from creation by the process that will execute the run: the
    /// owner's instance id and how long the lease holds. The run's first
    /// [`Fence`] is `Fence::first(id)`.
    pub lease: Option<(String, std::time::Duration)>,
}

/// Who executes a run, until when.
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
    /// answer arrives. The lease is given up. For a wait for child runs,
    /// `children` lists them: if they have all ended by the time this is
    /// written, the run is ready at once (a child that ended while the run
    /// was suspending must not leave it waiting).
    Suspended {
        seq: u64,
        until_ms: Option<i64>,
        children: Vec<String>,
    },
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
    /// Only the children of this run; `Some("")`: only top-level runs.
    pub parent: Option<String>,
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

/// Something another process did to the journal, as a backend shared by
/// several processes announces it ([`super::Journal::events`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalEvent {
    /// A commit changed these runs' entries, status or lease; `ready`: a
    /// run may have become ready, or its ready time moved.
    Changed { runs: Vec<String>, ready: bool },
    /// Someone asks the process that executes `run_id` to cancel it.
    CancelRequested {
        run_id: String,
        reason: Option<String>,
    },
    /// Announcements may have been missed (the listener reconnected): look
    /// at the journal again.
    Resync,
}
