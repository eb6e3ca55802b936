//! The journal's errors, in relive's own terms: a backend maps its own
//! errors (SQLite's, PostgreSQL's) onto these.

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
    /// An error of the backend's database, as one line (SQLite's message;
    /// PostgreSQL's message and SQLSTATE).
    #[error("journal database error: {0}")]
    Database(String),
    /// The database is locked by another process for longer than the
    /// backend waits (SQLite's busy timeout).
    #[error("journal database error: {0}")]
    Busy(String),
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
