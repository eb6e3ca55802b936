//! Bounds on what a run writes: its journal budget (bytes), and
//! backpressure on lazy writes, so a guest that writes faster than the
//! journal commits waits for its own writes instead of filling memory or
//! holding up other runs.

use super::{Recorder, Stop};
use crate::journal::{Commit, JournalError};

/// Lazy writes of one run that may wait in the writer's queue before the
/// run waits for them.
pub const RUN_BACKLOG_BYTES: usize = 256 << 10;
/// Lazy writes of one run that synchronous host calls (which cannot await)
/// may leave in the writer's queue before the run blocks on them.
pub const RUN_BACKLOG_HARD_BYTES: usize = 8 << 20;
/// Lazy writes of all runs that may wait in the writer's queue before each
/// run that adds one waits for its own.
pub const JOURNAL_BACKLOG_BYTES: usize = 32 << 20;

impl Recorder {
    /// Counts `bytes` against the run's journal budget.
    pub(super) fn charge(&mut self, bytes: u64) -> Result<(), Stop> {
        self.journal_bytes += bytes;
        if let Some(budget) = &self.budget
            && self.journal_bytes > budget.max_journal_bytes
        {
            return Err(Stop::Limit(format!(
                "the run's journal reached {} bytes, over its budget of {} bytes ({} MiB); {}",
                self.journal_bytes,
                budget.max_journal_bytes,
                budget.max_journal_bytes >> 20,
                budget.raise_journal_bytes
            )));
        }
        Ok(())
    }

    /// Keeps a lazy write to wait for when the queue is long.
    pub(super) fn lazily(&mut self, commit: Commit, bytes: usize) {
        self.pending.push_back((commit, bytes));
        self.pending_bytes += bytes;
    }

    /// Whether this run must wait for its lazy writes before making more:
    /// its own backlog, or everybody's, is over its bound.
    pub(super) fn backlogged(&self) -> bool {
        self.pending_bytes > RUN_BACKLOG_BYTES
            || (self.pending_bytes > 0
                && self
                    .journal
                    .as_ref()
                    .is_some_and(|(j, _)| j.backlog_bytes() > JOURNAL_BACKLOG_BYTES))
    }

    /// Backpressure, from an async host call: waits for this run's lazy
    /// writes when they are too many.
    pub async fn relieve(&mut self) -> Result<(), Stop> {
        if !self.backlogged() {
            return Ok(());
        }
        // Let the other runs of this process go first: a run that writes
        // this much is the one to wait.
        tokio::task::yield_now().await;
        while let Some((commit, bytes)) = self.pending.pop_front() {
            self.pending_bytes -= bytes;
            commit.wait().await?;
        }
        Ok(())
    }

    /// Backpressure, from a synchronous host call (clocks, random), which
    /// cannot await: once this run's lazy writes pass
    /// [`RUN_BACKLOG_HARD_BYTES`], blocks until they are committed. On a
    /// multi-threaded runtime the worker hands its other tasks to another
    /// thread first (`block_in_place`), so other runs go on.
    pub fn relieve_blocking(&mut self) -> Result<(), Stop> {
        if self.pending_bytes <= RUN_BACKLOG_HARD_BYTES {
            return Ok(());
        }
        let pending: Vec<(Commit, usize)> = self.pending.drain(..).collect();
        self.pending_bytes = 0;
        let wait = move || -> Result<(), JournalError> {
            for (commit, _) in pending {
                commit.wait_parked()?;
            }
            Ok(())
        };
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_threaded {
            tokio::task::block_in_place(wait)?;
        } else {
            wait()?;
        }
        Ok(())
    }

    /// Forgets lazy writes known to be committed (an awaited write came after
    /// them: the writer commits in order).
    pub(super) fn committed(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
    }
}
