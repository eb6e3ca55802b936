//! The PostgreSQL journal's single writer: one task owns the write
//! connection and groups every write waiting in its queue into one
//! transaction (group commit), as the SQLite writer does (`sqlite/writer.rs`:
//! same queue bound, batch limits, lazy window and poisoning of a run's
//! later writes after one failed).
//!
//! A batch begins by locking the runs its fenced writes name (`FOR SHARE`,
//! in id order): a claim of one of them by another process waits for this
//! commit (or skips the run), and a claim committed first is seen, so a
//! stale generation is refused here — never written. The batch's commit
//! sends one notification naming what changed (`listen.rs`).
//!
//! A batch is committed with `synchronous_commit = off` (it survives a
//! killed relive process, not a crash of the database server) unless a
//! write in it asks for [`Durability::Sync`] or the policy is
//! [`SyncPolicy::EveryEntry`]: then it waits for the server's own
//! `synchronous_commit` (flushed to disk, or to replicas, as the operator
//! configured the server).
//!
//! Errors: a write refused by a check leaves the transaction going; a
//! statement the database refuses aborts it, and the batch is applied
//! again with a savepoint around each write, so only that write fails (as
//! SQLite's would). A deadlock with another process's transaction is
//! retried; a lost connection fails the batch and the next one reconnects.

use super::apply::{self, Batch, Changes, Failure};
use super::client::{Conn, describe, is_lost, is_transient};
use super::listen::change_payloads;
use crate::journal::ops::{Job, MAX_BATCH, MAX_BATCH_BYTES, Op};
use crate::journal::{Durability, JournalError, SyncPolicy};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// How often a batch is tried again after a deadlock.
const DEADLOCK_RETRIES: usize = 3;

/// How long a batch of lazy writes only waits for a write that somebody
/// waits on, to share its commit (see `sqlite/writer.rs`).
const LAZY_WINDOW: std::time::Duration = std::time::Duration::from_millis(1);

type Poisoned = HashMap<(String, u64), String>;

/// Handle to the writer task.
pub(super) struct Writer {
    tx: Option<mpsc::UnboundedSender<(Job, usize)>>,
    queued: Arc<AtomicUsize>,
    alive: Arc<AtomicBool>,
    done: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Writer {
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        conn: Conn,
        sync: SyncPolicy,
        channel: String,
    ) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let alive = Arc::new(AtomicBool::new(true));
        let (done_tx, done) = std::sync::mpsc::channel();
        let (q, a) = (queued.clone(), alive.clone());
        runtime.spawn(async move {
            // Marks the writer dead however the task ends, a panic included.
            struct Alive(Arc<AtomicBool>, std::sync::mpsc::Sender<()>);
            impl Drop for Alive {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::Release);
                    let _ = self.1.send(());
                }
            }
            let _alive = Alive(a, done_tx);
            run(conn, rx, sync, channel, &q).await;
        });
        Writer {
            tx: Some(tx),
            queued,
            alive,
            done: std::sync::Mutex::new(Some(done)),
        }
    }

    pub fn submit(&self, job: Job) {
        let size = job.op.size();
        if !self.is_alive() {
            let _ = job.reply.send(Err(JournalError::WriterGone));
            return;
        }
        self.queued.fetch_add(size, Ordering::Relaxed);
        if let Some(tx) = &self.tx
            && let Err(mpsc::error::SendError((job, size))) = tx.send((job, size))
        {
            self.queued.fetch_sub(size, Ordering::Relaxed);
            let _ = job.reply.send(Err(JournalError::WriterGone));
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Closes the queue and waits (up to `limit`) for what is queued to be
    /// committed.
    pub fn finish(&mut self, limit: std::time::Duration) {
        self.tx.take();
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(done) = done {
            let _ = done.recv_timeout(limit);
        }
    }
}

async fn run(
    mut conn: Conn,
    mut rx: mpsc::UnboundedReceiver<(Job, usize)>,
    sync: SyncPolicy,
    channel: String,
    queued: &AtomicUsize,
) {
    let mut poisoned = Poisoned::new();
    let mut batch: Vec<(Job, usize)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        gather(&mut rx, &mut batch).await;
        #[cfg(test)]
        if batch.iter().any(|(j, _)| matches!(j.op, Op::Die)) {
            return;
        }
        let want_sync = sync == SyncPolicy::EveryEntry
            || batch.iter().any(|(j, _)| j.durability == Durability::Sync);
        let outcome = commit_batch(&mut conn, &batch, &mut poisoned, want_sync, &channel).await;
        for ((job, size), result) in batch.drain(..).zip(outcome) {
            queued.fetch_sub(size, Ordering::Relaxed);
            let _ = job.reply.send(result);
        }
    }
}

/// Adds to `batch` what is queued, up to [`MAX_BATCH`] writes and
/// [`MAX_BATCH_BYTES`]; while the batch holds only lazy writes, waits up to
/// [`LAZY_WINDOW`] for more.
async fn gather(rx: &mut mpsc::UnboundedReceiver<(Job, usize)>, batch: &mut Vec<(Job, usize)>) {
    let deadline = tokio::time::Instant::now() + LAZY_WINDOW;
    let mut bytes: usize = batch.iter().map(|(_, size)| size).sum();
    let mut lazy_only = batch.iter().all(|(j, _)| j.durability == Durability::Lazy);
    while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
        let next = if lazy_only {
            tokio::time::timeout_at(deadline, rx.recv())
                .await
                .ok()
                .flatten()
        } else {
            rx.try_recv().ok()
        };
        let Some((job, size)) = next else {
            return;
        };
        lazy_only &= job.durability == Durability::Lazy;
        bytes += size;
        batch.push((job, size));
    }
}

/// How a try at a batch ended, when not with per-write results.
enum BatchError {
    /// A statement failed and aborted the transaction.
    Sql(tokio_postgres::Error),
    /// The connection or the commit failed: nothing is known to have landed.
    Lost(String),
}

/// Applies a batch in one transaction; returns one result per job.
async fn commit_batch(
    conn: &mut Conn,
    batch: &[(Job, usize)],
    poisoned: &mut Poisoned,
    want_sync: bool,
    channel: &str,
) -> Vec<Result<(), JournalError>> {
    let mut careful = false;
    let mut deadlocks = 0;
    let message = loop {
        match try_batch(conn, batch, poisoned, want_sync, careful, channel).await {
            Ok((results, failed_chains)) => {
                poisoned.extend(failed_chains);
                return results;
            }
            Err(BatchError::Sql(e)) if is_transient(&e) && deadlocks < DEADLOCK_RETRIES => {
                deadlocks += 1;
            }
            Err(BatchError::Sql(_)) if !careful => careful = true,
            Err(BatchError::Sql(e)) => break format!("journal write failed: {}", describe(&e)),
            Err(BatchError::Lost(message)) => break message,
        }
    };
    // Entries of a run form a chain: once one may be lost, later ones of
    // the same claim must not land.
    for (job, _) in batch {
        if let Some((run, generation)) = job.op.chain() {
            poisoned
                .entry((run.to_string(), generation))
                .or_insert_with(|| message.clone());
        }
    }
    batch
        .iter()
        .map(|_| Err(JournalError::Other(message.clone())))
        .collect()
}

/// The per-write results and the chains that broke, or why the batch as a
/// whole failed (rolled back).
type Tried = (Vec<Result<(), JournalError>>, Poisoned);

async fn try_batch(
    conn: &mut Conn,
    batch: &[(Job, usize)],
    poisoned: &Poisoned,
    want_sync: bool,
    careful: bool,
    channel: &str,
) -> Result<Tried, BatchError> {
    let db = conn
        .db()
        .await
        .map_err(|e| BatchError::Lost(e.to_string()))?;
    let begin = if want_sync {
        "BEGIN"
    } else {
        "BEGIN; SET LOCAL synchronous_commit = off"
    };
    db.batch(begin).await.map_err(lost)?;
    let generations = match lock_fenced(db, batch).await {
        Ok(g) => g,
        Err(e) => return Err(abort(db, e).await),
    };
    let mut b = Batch {
        db,
        generations,
        changes: Changes::default(),
    };
    let mut broken = Poisoned::new();
    let mut results = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        let chain = job.op.chain().map(|(r, g)| (r.to_string(), g));
        if let Some(first) = chain
            .as_ref()
            .and_then(|c| poisoned.get(c).or_else(|| broken.get(c)))
        {
            let run = &chain.as_ref().expect("a chain").0;
            results.push(Err(JournalError::Other(format!(
                "an earlier journal write of run {run} failed: {first}"
            ))));
            continue;
        }
        if careful {
            db.batch("SAVEPOINT op").await.map_err(lost)?;
        }
        let result = match apply::apply(&mut b, &job.op).await {
            Ok(()) => Ok(()),
            Err(Failure::Refused(e)) => Err(e),
            Err(Failure::Sql(e)) if careful && !is_transient(&e) && !is_lost(&e) => {
                db.batch("ROLLBACK TO SAVEPOINT op").await.map_err(lost)?;
                Err(JournalError::from(e))
            }
            Err(Failure::Sql(e)) => return Err(abort(db, e).await),
        };
        if careful && result.is_ok() {
            db.batch("RELEASE SAVEPOINT op").await.map_err(lost)?;
        }
        if let (Err(e), Some(chain)) = (&result, chain) {
            broken.entry(chain).or_insert_with(|| e.to_string());
        }
        results.push(result);
    }
    if let Err(e) = notify(db, channel, &b.changes).await {
        return Err(abort(db, e).await);
    }
    db.batch("COMMIT")
        .await
        .map_err(|e| BatchError::Lost(format!("journal commit failed: {}", describe(&e))))?;
    Ok((results, broken))
}

/// Locks the runs the batch's fenced writes name, in id order; returns
/// their lease generations.
async fn lock_fenced(
    db: super::client::Db<'_>,
    batch: &[(Job, usize)],
) -> Result<HashMap<String, u64>, tokio_postgres::Error> {
    let mut ids: Vec<&str> = batch
        .iter()
        .filter_map(|(j, _)| fenced_run(&j.op))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let rows = db
        .query(
            "SELECT id, lease_generation FROM runs WHERE id = ANY($1::text[])
             ORDER BY id FOR SHARE",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
        .collect())
}

/// The run a write is fenced on, if it is.
fn fenced_run(op: &Op) -> Option<&str> {
    match op {
        Op::SetComponent { fence, .. }
        | Op::SetPolicy { fence, .. }
        | Op::Append { fence, .. }
        | Op::Complete { fence, .. }
        | Op::SetStatus { fence, .. }
        | Op::SetReady { fence, .. }
        | Op::Confirm { fence } => Some(&fence.run_id),
        _ => None,
    }
}

/// Tells every listening process what the batch changed (sent at commit).
async fn notify(
    db: super::client::Db<'_>,
    channel: &str,
    changes: &Changes,
) -> Result<(), tokio_postgres::Error> {
    if changes.runs.is_empty() && !changes.ready {
        return Ok(());
    }
    let runs: Vec<&str> = changes.runs.iter().map(String::as_str).collect();
    for payload in change_payloads(&runs, changes.ready) {
        db.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
            .await?;
    }
    Ok(())
}

fn lost(e: tokio_postgres::Error) -> BatchError {
    BatchError::Lost(format!("journal write failed: {}", describe(&e)))
}

/// Rolls the transaction back after `e`; says how the batch failed.
async fn abort(db: super::client::Db<'_>, e: tokio_postgres::Error) -> BatchError {
    if is_lost(&e) {
        return lost(e);
    }
    match db.batch("ROLLBACK").await {
        Ok(()) => BatchError::Sql(e),
        Err(r) => lost(r),
    }
}
