//! The journal's single writer: one thread owns the write connection and
//! groups every write waiting in its queue into one transaction (group
//! commit), so many runs share the cost of a commit.
//!
//! A batch is fsynced (`synchronous = FULL` for its commit) when any write in
//! it asks for [`Durability::Sync`], or on every batch with
//! [`FsyncPolicy::EveryEntry`]; otherwise it is committed to the WAL without
//! fsync, which survives a killed process (DESIGN §3).
//!
//! A write that fails poisons its run: later writes for that run fail with
//! the first error, so a lazily written entry that was lost can never be
//! followed by entries that pretend it exists.

use super::{
    Completion, Durability, Entry, NewRun, Resolution, RunRecord, RunStatus, blobs, now_ms,
};
use crate::config::FsyncPolicy;
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 1024;

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
        run_id: String,
        digest: String,
    },
    Append {
        run_id: String,
        entry: Entry,
    },
    Complete {
        run_id: String,
        seq: u64,
        completion: Completion,
    },
    Resolve {
        run_id: String,
        seq: u64,
        resolution: Resolution,
        response: Option<String>,
    },
    SetStatus {
        run_id: String,
        status: RunStatus,
        output: Option<String>,
        error: Option<String>,
    },
    /// When a suspended run is next worth resuming.
    SetReady {
        run_id: String,
        at_ms: Option<i64>,
    },
}

impl Op {
    /// Entry writes form a chain: once one is lost, later ones must not land.
    fn poisons(&self) -> bool {
        matches!(self, Op::Append { .. } | Op::Complete { .. })
    }

    fn run_id(&self) -> Option<&str> {
        match self {
            Op::PutComponent { .. } => None,
            Op::CreateRun(run) => Some(&run.id),
            Op::Import { run, .. } => Some(&run.id),
            Op::Append { run_id, .. }
            | Op::Complete { run_id, .. }
            | Op::Resolve { run_id, .. }
            | Op::SetStatus { run_id, .. }
            | Op::SetReady { run_id, .. }
            | Op::SetComponent { run_id, .. } => Some(run_id),
        }
    }
}

pub(crate) struct Job {
    pub op: Op,
    pub durability: Durability,
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Handle to the writer thread; dropping it commits what is queued and
/// waits for the thread to finish.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub fn spawn(conn: Connection, fsync: FsyncPolicy) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("relive-journal-writer".into())
            .spawn(move || run(conn, rx, fsync))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn submit(&self, job: Job) {
        if let Some(tx) = &self.tx
            && let Err(mpsc::SendError(job)) = tx.send(job)
        {
            let _ = job.reply.send(Err("the journal writer has stopped".into()));
        }
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

fn run(mut conn: Connection, rx: mpsc::Receiver<Job>, fsync: FsyncPolicy) {
    let mut poisoned: HashMap<String, String> = HashMap::new();
    let mut synchronous_full = false;
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        gather(&rx, &mut batch);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let want_full = fsync == FsyncPolicy::EveryEntry
            || batch.iter().any(|j| j.durability == Durability::Sync);
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
        for (job, result) in batch.drain(..).zip(outcome) {
            let _ = job.reply.send(result);
        }
    }
    // Queue closed: everything was committed above. Fold the WAL back into
    // the database so the file is self-contained when the process exits.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
}

/// How long a batch of lazy writes only waits for a write that somebody
/// waits on, to share its commit. A durable step writes its `started`
/// entry lazily and its result right after the tool returns: waiting
/// turns two commits into one. Lazy writes are harmless to lose in a crash
/// (DESIGN §3), so delaying them costs nothing but this latency.
const LAZY_WINDOW: std::time::Duration = std::time::Duration::from_millis(1);

/// Adds to `batch` what is queued; while the batch holds only lazy writes,
/// waits up to [`LAZY_WINDOW`] for more.
fn gather(rx: &mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    let deadline = std::time::Instant::now() + LAZY_WINDOW;
    let mut lazy_only = batch.iter().all(|j| j.durability == Durability::Lazy);
    while lazy_only && batch.len() < MAX_BATCH {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(job) => {
                lazy_only = job.durability == Durability::Lazy;
                batch.push(job);
            }
            Err(_) => return, // the window closed, or the queue did
        }
    }
}

/// Applies a batch in one transaction; returns one result per job.
fn commit_batch(
    conn: &mut Connection,
    batch: &[Job],
    poisoned: &mut HashMap<String, String>,
) -> Vec<Result<(), String>> {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return vec![Err(format!("cannot begin journal transaction: {e}")); batch.len()],
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        if let Some(run) = job.op.run_id()
            && job.op.poisons()
            && let Some(first) = poisoned.get(run)
        {
            results.push(Err(format!(
                "an earlier journal write of run {run} failed: {first}"
            )));
            continue;
        }
        let result = apply(&tx, &job.op).map_err(|e| e.to_string());
        if let (Err(message), Some(run), true) = (&result, job.op.run_id(), job.op.poisons()) {
            poisoned
                .entry(run.to_string())
                .or_insert_with(|| message.clone());
        }
        results.push(result);
    }
    if let Err(e) = tx.commit() {
        let message = format!("journal commit failed: {e}");
        for job in batch {
            if let (Some(run), true) = (job.op.run_id(), job.op.poisons()) {
                poisoned
                    .entry(run.to_string())
                    .or_insert_with(|| message.clone());
            }
        }
        return vec![Err(message); batch.len()];
    }
    results
}

/// Stores `text` packed if that pays (see `blobs.rs`); returns the text for
/// the entry's column and whether it is packed.
fn store_text<'a>(
    conn: &Connection,
    text: &'a str,
) -> Result<(std::borrow::Cow<'a, str>, bool), rusqlite::Error> {
    match blobs::pack(text) {
        None => Ok((std::borrow::Cow::Borrowed(text), false)),
        Some(packed) => {
            let mut insert = conn.prepare_cached(
                "INSERT OR IGNORE INTO blobs (digest, size, bytes) VALUES (?1, ?2, ?3)",
            )?;
            for (digest, bytes) in &packed.blobs {
                insert.execute(params![digest, bytes.len() as i64, bytes])?;
            }
            Ok((std::borrow::Cow::Owned(packed.text), true))
        }
    }
}

/// Inserts one entry as it is (state, response, resolution, attempts).
fn insert_entry(conn: &Connection, run_id: &str, entry: &Entry) -> Result<(), rusqlite::Error> {
    let resolution = entry
        .resolution
        .as_ref()
        .map(|r| serde_json::to_string(r).expect("resolution serialises"));
    let (request, request_packed) = store_text(conn, &entry.request)?;
    let (response, response_packed) = match &entry.response {
        Some(text) => {
            let (t, p) = store_text(conn, text)?;
            (Some(t), p)
        }
        None => (None, false),
    };
    let packed = i64::from(request_packed) | (i64::from(response_packed) << 1);
    let attempts = (!entry.attempts.is_empty())
        .then(|| serde_json::to_string(&entry.attempts).expect("attempts serialise"));
    conn.prepare_cached(
        "INSERT INTO entries (run_id, seq, kind, name, request_digest, request, response, state,
                              started_at, finished_at, input_tokens, output_tokens, resolution, packed, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        run_id,
        entry.seq as i64,
        entry.kind.as_str(),
        entry.name,
        entry.request_digest,
        request,
        response,
        entry.state.as_str(),
        entry.started_at_ms,
        entry.finished_at_ms,
        entry.usage.map(|u| u.input_tokens),
        entry.usage.map(|u| u.output_tokens),
        resolution,
        packed,
        attempts,
    ])?;
    Ok(())
}

fn apply(conn: &Connection, op: &Op) -> Result<(), rusqlite::Error> {
    match op {
        Op::PutComponent { digest, bytes } => {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO components (digest, size, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![digest, bytes.len() as i64, bytes, now_ms()])?;
        }
        Op::CreateRun(run) => {
            let now = now_ms();
            let (owner, expires) = match &run.lease {
                Some(lease) => (Some(lease.owner.as_str()), Some(lease.expires_at_ms)),
                None => (None, None),
            };
            conn.prepare_cached(
                "INSERT INTO runs (id, agent, component_digest, input, status, config_path, created_at, updated_at, lease_owner, lease_expires_at, ready_at)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?6, ?7, ?8, ?6)",
            )?
            .execute(params![
                run.id,
                run.agent,
                run.component_digest,
                run.input,
                run.config_path,
                now,
                owner,
                expires
            ])?;
        }
        Op::Append { run_id, entry } => insert_entry(conn, run_id, entry)?,
        Op::Import { run, entries } => {
            conn.prepare_cached(
                "INSERT INTO runs (id, agent, component_digest, input, status, output, error, config_path, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                run.id,
                run.agent,
                run.component_digest,
                run.input,
                run.status.as_str(),
                run.output,
                run.error,
                run.config_path,
                run.created_at_ms,
                run.updated_at_ms
            ])?;
            for entry in entries {
                insert_entry(conn, &run.id, entry)?;
            }
        }
        Op::SetComponent { run_id, digest } => {
            let changed = conn.execute(
                "UPDATE runs SET component_digest = ?2, updated_at = ?3 WHERE id = ?1",
                params![run_id, digest, now_ms()],
            )?;
            if changed != 1 {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("no run {run_id}").into(),
                ));
            }
        }
        Op::Complete {
            run_id,
            seq,
            completion,
        } => {
            let Completion {
                response,
                usage,
                attempts,
            } = completion;
            let (response, response_packed) = store_text(conn, response)?;
            let attempts = (!attempts.is_empty())
                .then(|| serde_json::to_string(attempts).expect("attempts serialise"));
            let changed = conn
                .prepare_cached(
                    "UPDATE entries SET response = ?3, state = 'completed', finished_at = ?4,
                            input_tokens = ?5, output_tokens = ?6, packed = packed | ?7,
                            attempts = ?8
                     WHERE run_id = ?1 AND seq = ?2 AND state = 'started'",
                )?
                .execute(params![
                    run_id,
                    *seq as i64,
                    response,
                    now_ms(),
                    usage.map(|u| u.input_tokens),
                    usage.map(|u| u.output_tokens),
                    i64::from(response_packed) << 1,
                    attempts,
                ])?;
            if changed != 1 {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("entry {run_id}#{seq} is not a started entry").into(),
                ));
            }
        }
        Op::Resolve {
            run_id,
            seq,
            resolution,
            response,
        } => {
            let text = serde_json::to_string(resolution).expect("resolution serialises");
            let changed = match response {
                Some(response) => conn.execute(
                    "UPDATE entries SET resolution = ?3, response = ?4, state = 'completed', finished_at = ?5
                     WHERE run_id = ?1 AND seq = ?2 AND state = 'started'",
                    params![run_id, *seq as i64, text, response, now_ms()],
                )?,
                None => conn.execute(
                    "UPDATE entries SET resolution = ?3 WHERE run_id = ?1 AND seq = ?2 AND state = 'started'",
                    params![run_id, *seq as i64, text],
                )?,
            };
            if changed != 1 {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("entry {run_id}#{seq} is not a started entry").into(),
                ));
            }
        }
        Op::SetStatus {
            run_id,
            status,
            output,
            error,
        } => {
            // A running run is ready now (whoever holds its lease keeps
            // it); any other status gives the lease up and waits for
            // something to make the run ready again.
            conn.prepare_cached(
                "UPDATE runs SET status = ?2, output = ?3, error = ?4, updated_at = ?5,
                     ready_at = CASE WHEN ?2 = 'running' THEN ?5 END,
                     lease_owner = CASE WHEN ?2 = 'running' THEN lease_owner END,
                     lease_expires_at = CASE WHEN ?2 = 'running' THEN lease_expires_at END
                 WHERE id = ?1",
            )?
            .execute(params![run_id, status.as_str(), output, error, now_ms()])?;
        }
        Op::SetReady { run_id, at_ms } => {
            conn.prepare_cached("UPDATE runs SET ready_at = ?2 WHERE id = ?1")?
                .execute(params![run_id, at_ms])?;
        }
    }
    Ok(())
}
