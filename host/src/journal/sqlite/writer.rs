//! The journal's single writer: one thread owns the write connection and
//! groups every write waiting in its queue into one transaction (group
//! commit), so many runs share the cost of a commit.
//!
//! A batch is fsynced (`synchronous = FULL` for its commit) when any write in
//! it asks for [`Durability::Sync`], or on every batch with
//! [`SyncPolicy::EveryEntry`]; otherwise it is committed to the WAL without
//! fsync, which survives a killed process (DESIGN §3).
//!
//! Writes made while executing a run carry its [`Fence`]: the writer refuses
//! one whose lease generation is not the run's current one (DESIGN §11).
//! Operators' writes check the run's state before they change it; all of it
//! happens on this one thread, so a check and its write are never separated
//! by another write.
//!
//! A write that fails poisons its run: later writes for that run fail with
//! the first error, so a lazily written entry that was lost can never be
//! followed by entries that pretend it exists.
//!
//! The queue is bounded in bytes: [`Writer::queued_bytes`] tells producers
//! how much waits, and lazy writers wait for their commits when it is high
//! (see the Recorder). A batch holds at most [`MAX_BATCH_BYTES`], so one
//! run's flood delays another run's commit by one batch at most.

mod apply;

use super::super::SyncPolicy;
#[cfg(test)]
use super::super::ops::Op;
use super::super::ops::{Job, MAX_BATCH, MAX_BATCH_BYTES};
use super::{Durability, JournalError};
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

/// Handle to the writer thread; dropping it commits what is queued and
/// waits for the thread to finish.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<(Job, usize)>>,
    thread: Option<JoinHandle<()>>,
    queued: Arc<AtomicUsize>,
    alive: Arc<AtomicBool>,
}

impl Writer {
    pub fn spawn(conn: Connection, fsync: SyncPolicy) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<(Job, usize)>();
        let queued = Arc::new(AtomicUsize::new(0));
        let alive = Arc::new(AtomicBool::new(true));
        let thread = {
            let (queued, alive) = (queued.clone(), alive.clone());
            std::thread::Builder::new()
                .name("relive-journal-writer".into())
                .spawn(move || {
                    // Marks the writer dead however the thread ends, a panic
                    // included: `/healthz` and later writes must know.
                    struct Alive(Arc<AtomicBool>);
                    impl Drop for Alive {
                        fn drop(&mut self) {
                            self.0.store(false, Ordering::Release);
                        }
                    }
                    let _alive = Alive(alive);
                    run(conn, rx, fsync, &queued)
                })?
        };
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
            queued,
            alive,
        })
    }

    pub fn submit(&self, job: Job) {
        let size = job.op.size();
        if !self.is_alive() {
            let _ = job.reply.send(Err(JournalError::WriterGone));
            return;
        }
        self.queued.fetch_add(size, Ordering::Relaxed);
        if let Some(tx) = &self.tx
            && let Err(mpsc::SendError((job, size))) = tx.send((job, size))
        {
            self.queued.fetch_sub(size, Ordering::Relaxed);
            let _ = job.reply.send(Err(JournalError::WriterGone));
        }
    }

    /// Bytes submitted and not yet committed.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<(Job, usize)>,
    fsync: SyncPolicy,
    queued: &AtomicUsize,
) {
    let mut poisoned: HashMap<(String, u64), String> = HashMap::new();
    let mut synchronous_full = false;
    let mut batch: Vec<(Job, usize)> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        gather(&rx, &mut batch);
        #[cfg(test)]
        if batch.iter().any(|(j, _)| matches!(j.op, Op::Die)) {
            return;
        }
        let want_full = fsync == SyncPolicy::EveryEntry
            || batch.iter().any(|(j, _)| j.durability == Durability::Sync);
        if want_full != synchronous_full {
            let pragma = if want_full {
                "PRAGMA synchronous = FULL"
            } else {
                "PRAGMA synchronous = NORMAL"
            };
            if conn.execute_batch(pragma).is_ok() {
                synchronous_full = want_full;
            }
        }
        let outcome = commit_batch(&mut conn, &batch, &mut poisoned);
        for ((job, size), result) in batch.drain(..).zip(outcome) {
            queued.fetch_sub(size, Ordering::Relaxed);
            let _ = job.reply.send(result);
        }
    }
    // Queue closed: everything was committed above. Fold the WAL back into
    // the database so the file is self-contained when the process exits.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
}

/// How long a batch of lazy writes only waits for a write that somebody
/// waits on, to share its commit. Local reads (clock, random, log) are
/// written lazily and the next external call's `started` entry right after
/// them: waiting turns two commits into one. Lazy writes are harmless to
/// lose in a crash (DESIGN §3), so delaying them costs nothing but this
/// latency.
const LAZY_WINDOW: std::time::Duration = std::time::Duration::from_millis(1);

/// Adds to `batch` what is queued, up to [`MAX_BATCH`] writes and
/// [`MAX_BATCH_BYTES`]; while the batch holds only lazy writes, waits up to
/// [`LAZY_WINDOW`] for more.
fn gather(rx: &mpsc::Receiver<(Job, usize)>, batch: &mut Vec<(Job, usize)>) {
    let deadline = std::time::Instant::now() + LAZY_WINDOW;
    let mut bytes: usize = batch.iter().map(|(_, size)| size).sum();
    let mut lazy_only = batch.iter().all(|(j, _)| j.durability == Durability::Lazy);
    while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
        let next = if lazy_only {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            rx.recv_timeout(left).ok()
        } else {
            rx.try_recv().ok()
        };
        let Some((job, size)) = next else {
            return; // nothing queued, the window closed, or the queue did
        };
        lazy_only &= job.durability == Durability::Lazy;
        bytes += size;
        batch.push((job, size));
    }
}

/// Applies a batch in one transaction; returns one result per job.
fn commit_batch(
    conn: &mut Connection,
    batch: &[(Job, usize)],
    poisoned: &mut HashMap<(String, u64), String>,
) -> Vec<Result<(), JournalError>> {
    let failed = |message: &str| {
        batch
            .iter()
            .map(|_| Err(JournalError::Other(message.to_string())))
            .collect()
    };
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return failed(&format!("cannot begin journal transaction: {e}")),
    };
    let mut results = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        if let Some((run, generation)) = job.op.chain()
            && let Some(first) = poisoned.get(&(run.to_string(), generation))
        {
            results.push(Err(JournalError::Other(format!(
                "an earlier journal write of run {run} failed: {first}"
            ))));
            continue;
        }
        let result = apply::apply(&tx, &job.op);
        if let (Err(e), Some((run, generation))) = (&result, job.op.chain()) {
            poisoned
                .entry((run.to_string(), generation))
                .or_insert_with(|| e.to_string());
        }
        results.push(result);
    }
    if let Err(e) = tx.commit() {
        let message = format!("journal commit failed: {e}");
        for (job, _) in batch {
            if let Some((run, generation)) = job.op.chain() {
                poisoned
                    .entry((run.to_string(), generation))
                    .or_insert_with(|| message.clone());
            }
        }
        return failed(&message);
    }
    results
}
