//! Writes and how hard they must hold: every write returns a [`Commit`] to
//! await, or to drop for lazy writes (DESIGN §3).

use super::JournalError;
use tokio::sync::oneshot;

/// How hard a write must hold before its [`Commit`] resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durability {
    /// Committed with whatever batch comes next; nobody waits for it.
    Lazy,
    /// Committed, not yet forced to disk: survives a killed process, not a
    /// power loss.
    Commit,
    /// Committed and fsynced: survives a power loss.
    Sync,
}

/// When a backend forces its commits to disk (the operator's `[journal]
/// fsync` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before a non-idempotent effect starts, when a run suspends and
    /// when it ends; every other commit survives a killed process but not a
    /// power loss.
    #[default]
    Critical,
    /// fsync every commit: every entry survives a power loss.
    EveryEntry,
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
