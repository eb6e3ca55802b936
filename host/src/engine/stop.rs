//! Why the host stops a guest: the reasons the recorder gives, which the
//! runtime turns into the run's outcome.

use super::Divergence;
use crate::journal::{EntryKind, JournalError, Waiting};

/// Why the host stopped a guest.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error("{0}")]
    Diverged(Divergence),
    #[error(
        "entry #{seq} ({kind} `{name}`) was interrupted by a crash and is not idempotent: it may or may not have taken effect"
    )]
    Uncertain {
        seq: u64,
        kind: EntryKind,
        name: String,
    },
    #[error("journal: {0}")]
    Journal(JournalError),
    #[error("entry #{seq} is damaged: {message}")]
    Damaged { seq: u64, message: String },
    /// The run went past a budget the operator set.
    #[error("{0}")]
    Budget(String),
    /// The run went past a resource limit.
    #[error("{0}")]
    Limit(String),
    /// The run waits for an approval, a time or a signal.
    #[error("waiting for {0}")]
    Suspended(Waiting),
    /// The host is shutting down: the run stops before its next call and
    /// is left to be resumed.
    #[error("the host is shutting down; the run will be resumed")]
    Interrupted,
}

impl From<JournalError> for Stop {
    fn from(e: JournalError) -> Self {
        Stop::Journal(e)
    }
}
