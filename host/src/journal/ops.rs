//! The journal's writes, as both backends' writers take them: one [`Op`]
//! per write, queued as a [`Job`] with its durability and the channel its
//! [`super::Commit`] waits on. The writers apply them in order, group them
//! into transactions, and refuse fenced ones whose claim is not the run's
//! latest (DESIGN §11).

use super::{
    Completion, Durability, Entry, EntryKind, Fence, JournalError, NewRun, ResolveRequest,
    RunRecord, StatusChange,
};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Most writes committed in one transaction.
pub(crate) const MAX_BATCH: usize = 1024;
/// Most bytes of writes committed in one transaction (one write may be
/// larger: it is committed alone).
pub(crate) const MAX_BATCH_BYTES: usize = 1 << 20;

pub(crate) enum Op {
    PutComponent {
        digest: String,
        bytes: Vec<u8>,
    },
    CreateRun(NewRun),
    /// A run and its entries from a journal file, as they are.
    Import {
        run: RunRecord,
        entries: Vec<Entry>,
    },
    /// Pins a run to another component (an upgrade).
    SetComponent {
        fence: Fence,
        digest: String,
    },
    SetPolicy {
        fence: Fence,
        policy: String,
    },
    Append {
        fence: Fence,
        entry: Entry,
    },
    Complete {
        fence: Fence,
        seq: u64,
        completion: Completion,
    },
    SetStatus {
        fence: Fence,
        change: StatusChange,
    },
    /// Writes nothing: refused, like any fenced write, when the run's
    /// lease was taken over (checked before a call is made again).
    Confirm {
        fence: Fence,
    },
    /// When a run that could not be executed is worth trying again.
    SetReady {
        fence: Fence,
        at_ms: Option<i64>,
    },
    Answer {
        run_id: String,
        seq: u64,
        kind: EntryKind,
        response: String,
    },
    Resolve(ResolveRequest),
    Cancel {
        run_id: String,
        error: String,
        owner: Option<String>,
    },
    /// A lease operation (claim, renew, release, break, register): through
    /// the writer like every write, so it waits its turn in the queue
    /// instead of fighting the writer for SQLite's write lock.
    Lease {
        op: LeaseOp,
        answer: Arc<std::sync::Mutex<LeaseAnswer>>,
    },
    /// Does nothing: its commit tells that everything before it is applied.
    Ping,
    /// Stops the writer thread (tests of a dead writer).
    #[cfg(test)]
    Die,
}

/// What a lease operation does (see `leases.rs`).
pub(crate) enum LeaseOp {
    Claim {
        run_id: String,
        owner: String,
        ttl: std::time::Duration,
        take_from: Option<String>,
    },
    Renew {
        owner: String,
        ttl: std::time::Duration,
    },
    Release(Fence),
    Break {
        owner: String,
    },
    Register(super::Instance),
}

/// What a lease operation answered.
#[derive(Debug, Default)]
pub(crate) enum LeaseAnswer {
    #[default]
    Nothing,
    Claimed(Option<Fence>),
    Count(usize),
}

impl Op {
    /// Entry writes form a chain: once one is lost, later ones of the same
    /// claim must not land. Returns the chain's key (run and generation: a
    /// refused write of a stale claim must not poison the new owner's).
    pub(crate) fn chain(&self) -> Option<(&str, u64)> {
        match self {
            Op::Append { fence, .. } | Op::Complete { fence, .. } => {
                Some((&fence.run_id, fence.generation))
            }
            _ => None,
        }
    }

    /// Roughly how many bytes the write holds, for the queue's bound.
    pub fn size(&self) -> usize {
        const FIXED: usize = 128;
        FIXED
            + match self {
                Op::PutComponent { bytes, .. } => bytes.len(),
                Op::CreateRun(run) => run.input.len(),
                Op::Import { run, entries } => {
                    run.input.len() + entries.iter().map(entry_size).sum::<usize>()
                }
                Op::Append { entry, .. } => entry_size(entry),
                Op::Complete { completion, .. } => completion.response.len(),
                Op::Answer { response, .. } => response.len(),
                Op::SetPolicy { policy, .. } => policy.len(),
                _ => 0,
            }
    }
}

/// The bytes an entry adds to the journal (request and response).
pub(crate) fn entry_size(entry: &Entry) -> usize {
    entry.request.len() + entry.response.as_ref().map_or(0, String::len)
}

pub(crate) struct Job {
    pub op: Op,
    pub durability: Durability,
    pub reply: oneshot::Sender<Result<(), JournalError>>,
}
