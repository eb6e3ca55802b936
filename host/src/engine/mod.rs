//! The engine: the record/replay wrapper every host call goes through
//! (DESIGN §4), written once for all of them. It knows the journal and
//! nothing else of relive: the imports call it, the runtime drives it.
//!
//! Host call number *i* is matched against journal entry *i* by kind, name
//! and request digest. A match returns the recorded answer without doing
//! anything; a mismatch stops the run with a [`Divergence`]; past the last
//! entry the call runs live and is recorded. Nothing is ever skipped,
//! reordered or invented — with one exception, in a pure replay of a
//! fixture only: monotonic clock reads, whose values mean nothing but their
//! order, are matched by order rather than one for one (see `monotonic`).
//!
//! Commit rule (DESIGN §3): a non-idempotent call's `started` entry is
//! fsynced before the effect starts; any other external call's `started`
//! entry is committed (without fsync) before the request leaves the host, so
//! an idempotency key always names the request that was recorded; an
//! external result is committed before the guest sees it; local reads
//! (clock, random, log, poll) are written lazily.
//!
//! Bounds: a run's journal may hold at most `max_journal_mib` of requests and
//! responses (its budget); lazy writes waiting in the writer's queue are
//! bounded per run and in all, and a guest that produces them faster than
//! the journal commits waits for its own writes.

mod backlog;
mod divergence;
mod events;
#[cfg(test)]
mod fence_tests;
mod monotonic;
mod recorder;
mod stop;
mod waits;

pub use backlog::{JOURNAL_BACKLOG_BYTES, RUN_BACKLOG_BYTES, RUN_BACKLOG_HARD_BYTES};
pub use divergence::{CallDescription, DIVERGENCE_HINT, Divergence, shorten};
pub use events::{Event, Observer, Phase};
pub use monotonic::{MONOTONIC, ToleratedReads};
pub use recorder::{BatchCall, BoxFuture, Recorder};
pub use stop::Stop;

/// Whether a call may reach the outside world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Replay what the journal holds, then run live and record; timers that
    /// are not due behave as the policy says.
    Record(TimerPolicy),
    /// Replay only: a call past the end of the journal is a divergence.
    /// Used by `relive replay` and replay tests.
    ReplayOnly,
}

/// What an external call does when interrupted by a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Safe to run again with the same idempotency key (LLM calls, tools
    /// marked `idempotent`).
    Idempotent,
    /// Not safe: a crash during the call makes the run `uncertain`.
    NonIdempotent,
}

/// What a timer that is not yet due does in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimerPolicy {
    /// Suspend the run (a one-shot `relive run`).
    #[default]
    Suspend,
    /// Wait in this process until it is due (`relive resume`).
    Wait,
    /// Wake it now, recorded as early (`relive resume --now`).
    WakeNow,
}

/// What a run may spend on its journal: host calls (entries) and bytes,
/// with the words that tell the operator how to raise each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    pub max_host_calls: u64,
    pub max_journal_bytes: u64,
    /// How to raise `max_host_calls`, for the error.
    pub raise_host_calls: String,
    /// How to raise the journal's byte budget, for the error.
    pub raise_journal_bytes: String,
}

/// The idempotency key of the call at `seq` of run `run_id`, sent with
/// outgoing requests and given to tools.
pub fn idempotency_key(run_id: &str, seq: u64) -> String {
    format!("relive-{run_id}-{seq}")
}
