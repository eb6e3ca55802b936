//! The PostgreSQL journal: one database shared by relive processes on
//! several hosts (DESIGN §11).
//!
//! The same [`Journal`] trait as the SQLite journal, with the same
//! semantics: numbered migrations (`schema.rs`), content-addressed blobs,
//! one writer per process grouping writes into transactions (`writer.rs`,
//! `apply.rs`), fenced writes, leases decided by the database's clock
//! (`leases.rs`), reads (`read.rs`), retention (`prune.rs`). What several
//! processes add: runs are claimed with `FOR UPDATE SKIP LOCKED`, and
//! processes wake each other with LISTEN/NOTIFY (`listen.rs`) instead of
//! polling.
//!
//! The trait is synchronous and the client is async: the journal runs its
//! own small tokio runtime, and each call waits for its query on it. That
//! blocks the calling thread the way an SQLite call does, and works from
//! any thread, a tokio worker included (`Handle::block_on` would panic
//! there). Connections per process: one writer, one control connection
//! (claims, renewals), one listener and [`READERS`] readers.

mod apply;
mod client;
mod entries;
mod leases;
mod listen;
mod prune;
mod read;
mod schema;
pub mod throwaway;
mod writer;

#[cfg(test)]
mod tests;

pub(crate) use client::redact;
pub use schema::SCHEMA_VERSION;

use super::ops::{Job, LeaseAnswer, LeaseOp, Op};
use super::{
    Commit, Completion, Durability, Entry, EntryKind, Fence, Instance, Journal, JournalError,
    JournalEvent, JournalInfo, Lease, NewRun, PruneReport, PruneRequest, ReadyRun, ResolveRequest,
    RunQuery, RunRecord, RunSummary, StatusChange, SyncPolicy,
};
use client::{Conn, Result, Target};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use writer::Writer;

/// Reader connections per process.
const READERS: usize = 4;
/// Worker threads of the journal's own runtime.
const THREADS: usize = 2;
/// How long `health` waits for the writer to answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long dropping the journal waits for queued writes to commit.
const FINISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening waits for the listener to listen (it goes on trying).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Events a slow listener of [`Journal::events`] may fall behind by.
const EVENTS: usize = 4096;

/// A journal in a PostgreSQL database.
pub struct PgJournal {
    inner: Arc<Inner>,
    writer: Writer,
    runtime: Option<tokio::runtime::Runtime>,
}

/// What the journal's tasks share.
struct Inner {
    target: Arc<Target>,
    sync: SyncPolicy,
    readers: Pool,
    control: tokio::sync::Mutex<Conn>,
    channel: String,
    events: broadcast::Sender<JournalEvent>,
}

/// Reader connections, each used by one query at a time.
struct Pool {
    conns: Mutex<Vec<Conn>>,
    free: tokio::sync::Semaphore,
}

/// A reader connection taken from the pool; given back when dropped.
struct Pooled<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
    _permit: tokio::sync::SemaphorePermit<'p>,
}

impl Pool {
    async fn get(&self) -> Result<Pooled<'_>> {
        let permit = self
            .free
            .acquire()
            .await
            .map_err(|_| JournalError::Other("the journal's reader pool is closed".into()))?;
        let conn = self.conns.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Ok(Pooled {
            pool: self,
            conn,
            _permit: permit,
        })
    }
}

impl Pooled<'_> {
    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a permit means a free connection")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .conns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

impl PgJournal {
    /// Connects to the database at `url`, creates the journal's tables if
    /// `create` (else a database without them is an error), and starts the
    /// writer and the listener.
    pub fn open(url: &str, sync: SyncPolicy, create: bool) -> Result<PgJournal> {
        let target = Arc::new(Target::parse(url)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(THREADS)
            .thread_name("relive-postgres")
            .enable_all()
            .build()
            .map_err(|e| JournalError::Other(format!("cannot start the journal's runtime: {e}")))?;
        let setup = {
            let target = target.clone();
            wait_on(&runtime, async move {
                let mut control = Conn::open(target.clone()).await?;
                let db = control.db().await?;
                schema::prepare(db, &target.shown, create).await?;
                let row = db
                    .query_one(
                        "SELECT current_database()::text, current_schema()::text",
                        &[],
                    )
                    .await?;
                let channel = listen::channel_name(row.get(0), row.get(1));
                let mut readers = Vec::with_capacity(READERS);
                for _ in 0..READERS {
                    readers.push(Conn::new(target.clone()));
                }
                let writer = Conn::open(target.clone()).await?;
                Ok((control, readers, writer, channel))
            })
        };
        let (control, readers, writer_conn, channel) = match setup {
            Ok(parts) => parts,
            Err(e) => {
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let (events, _) = broadcast::channel(EVENTS);
        let inner = Arc::new(Inner {
            target: target.clone(),
            sync,
            readers: Pool {
                conns: Mutex::new(readers),
                free: tokio::sync::Semaphore::new(READERS),
            },
            control: tokio::sync::Mutex::new(control),
            channel: channel.clone(),
            events: events.clone(),
        });
        // Listening before `open` returns: a commit made after it wakes
        // this process.
        let (listening, ready) = tokio::sync::oneshot::channel();
        runtime.spawn(listen::listen(target, channel.clone(), events, listening));
        let _ = wait_on(&runtime, async move {
            tokio::time::timeout(LISTEN_TIMEOUT, ready)
                .await
                .map_err(|_| JournalError::Other("not listening yet".into()))?
                .map_err(|_| JournalError::Other("the listener stopped".into()))
        });
        let writer = Writer::spawn(runtime.handle(), writer_conn, sync, channel);
        Ok(PgJournal {
            inner,
            writer,
            runtime: Some(runtime),
        })
    }

    /// Runs `f` on the journal's runtime and waits for it.
    fn block<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Inner>) -> std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send>>,
    ) -> Result<T> {
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the journal");
        wait_on(runtime, f(self.inner.clone()))
    }

    /// A read on one of the reader connections.
    fn read<T: Send + 'static>(
        &self,
        f: impl for<'a> FnOnce(
            client::Db<'a>,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>
        + Send
        + 'static,
    ) -> Result<T> {
        self.block(move |inner| {
            Box::pin(async move {
                let mut pooled = inner.readers.get().await?;
                let db = pooled.conn().db().await?;
                f(db).await
            })
        })
    }

    /// A statement on the control connection (claims, renewals, breaks).
    fn control<T: Send + 'static>(
        &self,
        f: impl for<'a> FnOnce(
            client::Db<'a>,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>
        + Send
        + 'static,
    ) -> Result<T> {
        self.block(move |inner| {
            Box::pin(async move {
                let mut control = inner.control.lock().await;
                let db = control.db().await?;
                f(db).await
            })
        })
    }

    fn submit(&self, op: Op, durability: Durability) -> Commit {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer.submit(Job {
            op,
            durability,
            reply: tx,
        });
        Commit::new(rx)
    }

    /// A lease operation through the writer, ordered after the writes
    /// queued before it; waits for its commit.
    fn lease_op(&self, op: LeaseOp) -> Result<LeaseAnswer> {
        let answer = Arc::new(Mutex::new(LeaseAnswer::Nothing));
        let commit = self.submit(
            Op::Lease {
                op,
                answer: answer.clone(),
            },
            Durability::Commit,
        );
        commit.wait_parked()?;
        let mut answer = answer.lock().unwrap_or_else(|p| p.into_inner());
        Ok(std::mem::take(&mut *answer))
    }

    /// Stops the writer task, as a crash of it would (tests of `health`).
    #[cfg(test)]
    pub(crate) fn kill_writer(&self) {
        drop(self.submit(Op::Die, Durability::Lazy));
        for _ in 0..500 {
            if !self.writer.is_alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Spawns `f` on `runtime` and parks this thread until it is done.
fn wait_on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    f: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv()
        .map_err(|_| JournalError::Other("the PostgreSQL journal's runtime stopped".into()))?
}

impl Drop for PgJournal {
    fn drop(&mut self) {
        self.writer.finish(FINISH_TIMEOUT);
        if let Some(runtime) = self.runtime.take() {
            // May be dropped inside another runtime: never block here.
            runtime.shutdown_background();
        }
    }
}

/// Boxes an async block for [`PgJournal::read`] and friends.
macro_rules! query {
    (|$db:ident| $body:expr) => {
        move |$db: client::Db<'_>| Box::pin(async move { $body })
    };
}

impl Journal for PgJournal {
    fn put_component(&self, digest: &str, bytes: &[u8]) -> Commit {
        let op = Op::PutComponent {
            digest: digest.to_string(),
            bytes: bytes.to_vec(),
        };
        self.submit(op, Durability::Sync)
    }

    fn create_run(&self, run: NewRun) -> Commit {
        self.submit(Op::CreateRun(run), Durability::Sync)
    }

    fn import_run(&self, run: RunRecord, entries: Vec<Entry>) -> Commit {
        self.submit(Op::Import { run, entries }, Durability::Sync)
    }

    fn set_component(&self, fence: &Fence, digest: &str) -> Commit {
        let op = Op::SetComponent {
            fence: fence.clone(),
            digest: digest.to_string(),
        };
        self.submit(op, Durability::Sync)
    }

    fn set_policy(&self, fence: &Fence, policy: &serde_json::Value) -> Commit {
        let op = Op::SetPolicy {
            fence: fence.clone(),
            policy: policy.to_string(),
        };
        self.submit(op, Durability::Commit)
    }

    fn append(&self, fence: &Fence, entry: Entry, durability: Durability) -> Commit {
        let op = Op::Append {
            fence: fence.clone(),
            entry,
        };
        self.submit(op, durability)
    }

    fn complete(
        &self,
        fence: &Fence,
        seq: u64,
        completion: Completion,
        durability: Durability,
    ) -> Commit {
        let op = Op::Complete {
            fence: fence.clone(),
            seq,
            completion,
        };
        self.submit(op, durability)
    }

    fn set_status(&self, fence: &Fence, change: StatusChange, durability: Durability) -> Commit {
        let op = Op::SetStatus {
            fence: fence.clone(),
            change,
        };
        self.submit(op, durability)
    }

    fn set_ready(&self, fence: &Fence, at_ms: Option<i64>) -> Commit {
        let op = Op::SetReady {
            fence: fence.clone(),
            at_ms,
        };
        self.submit(op, Durability::Commit)
    }

    fn confirm(&self, fence: &Fence) -> Commit {
        let op = Op::Confirm {
            fence: fence.clone(),
        };
        self.submit(op, Durability::Commit)
    }

    fn answer(&self, run_id: &str, seq: u64, kind: EntryKind, response: String) -> Commit {
        let op = Op::Answer {
            run_id: run_id.to_string(),
            seq,
            kind,
            response,
        };
        self.submit(op, Durability::Sync)
    }

    fn resolve(&self, request: ResolveRequest) -> Commit {
        self.submit(Op::Resolve(request), Durability::Sync)
    }

    fn cancel(&self, run_id: &str, error: String, owner: Option<&str>) -> Commit {
        let op = Op::Cancel {
            run_id: run_id.to_string(),
            error,
            owner: owner.map(str::to_string),
        };
        self.submit(op, Durability::Sync)
    }

    fn claim(
        &self,
        run_id: &str,
        owner: &str,
        ttl: Duration,
        take_from: Option<&str>,
    ) -> Result<Option<Fence>> {
        let (run_id, owner) = (run_id.to_string(), owner.to_string());
        let take_from = take_from.map(str::to_string);
        self.control(query!(|db| leases::claim(
            db,
            &run_id,
            &owner,
            ttl,
            take_from.as_deref()
        )
        .await))
    }

    fn claim_ready(
        &self,
        owner: &str,
        ttl: Duration,
        limit: usize,
        skip: &[String],
    ) -> Result<Vec<Fence>> {
        let (owner, skip) = (owner.to_string(), skip.to_vec());
        self.control(query!(|db| leases::claim_ready(
            db, &owner, ttl, limit, &skip
        )
        .await))
    }

    fn renew_leases(&self, owner: &str, ttl: Duration) -> Result<usize> {
        let owner = owner.to_string();
        self.control(query!(|db| leases::renew(db, &owner, ttl).await))
    }

    fn release(&self, fence: &Fence) -> Result<()> {
        self.lease_op(LeaseOp::Release(fence.clone())).map(drop)
    }

    fn ready_runs(&self, limit: usize) -> Result<Vec<ReadyRun>> {
        self.read(query!(|db| leases::ready_runs(db, limit).await))
    }

    fn lease_owners(&self) -> Result<Vec<String>> {
        self.read(query!(|db| leases::lease_owners(db).await))
    }

    fn break_leases(&self, owner: &str) -> Result<usize> {
        let owner = owner.to_string();
        self.control(query!(|db| leases::break_leases(db, &owner).await))
    }

    fn next_ready_in(&self) -> Result<Option<Duration>> {
        self.read(query!(|db| leases::next_ready_in(db).await))
    }

    fn lease(&self, run_id: &str) -> Result<Option<Lease>> {
        let run_id = run_id.to_string();
        self.read(query!(|db| leases::lease(db, &run_id).await))
    }

    fn register_instance(&self, instance: &Instance) -> Result<()> {
        let instance = instance.clone();
        self.control(query!(|db| leases::register_instance(db, &instance).await))
    }

    fn instance(&self, id: &str) -> Result<Option<Instance>> {
        let id = id.to_string();
        self.read(query!(|db| leases::instance(db, &id).await))
    }

    fn find_run(&self, id_or_prefix: &str) -> Result<RunRecord> {
        let id = id_or_prefix.to_string();
        self.read(query!(|db| read::find_run(db, &id).await))
    }

    fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>> {
        let query = query.clone();
        self.read(query!(|db| read::runs(db, &query).await))
    }

    fn entries(&self, run_id: &str) -> Result<Vec<Entry>> {
        let run_id = run_id.to_string();
        self.read(query!(|db| read::entries(db, &run_id).await))
    }

    fn summary(&self, run_id: &str) -> Result<RunSummary> {
        let run_id = run_id.to_string();
        self.read(query!(|db| read::summary(db, &run_id).await))
    }

    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let digest = digest.to_string();
        self.read(query!(|db| read::component(db, &digest).await))
    }

    fn prune(&self, request: &PruneRequest) -> Result<PruneReport> {
        let request = request.clone();
        self.control(query!(|db| prune::prune(db, &request).await))
    }

    fn compact(&self) -> Result<()> {
        // VACUUM FULL rewrites each table and returns its free space to the
        // file system; it locks the table while it works.
        self.control(query!(|db| Ok(db
            .batch(
                "VACUUM FULL entries; VACUUM FULL blobs; VACUUM FULL components; VACUUM FULL runs"
            )
            .await?)))
    }

    fn info(&self) -> JournalInfo {
        let bytes = self
            .read(query!(|db| {
                let row = db
                    .query_one(
                        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                        &[],
                    )
                    .await?;
                Ok(row.get::<_, i64>(0) as u64)
            }))
            .ok();
        JournalInfo {
            backend: "postgres",
            location: self.inner.target.shown.clone(),
            sync: self.inner.sync,
            bytes,
        }
    }

    fn backlog_bytes(&self) -> usize {
        self.writer.queued_bytes()
    }

    fn health(&self) -> Result<()> {
        if !self.writer.is_alive() {
            return Err(JournalError::WriterGone);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let commit = self.submit(Op::Ping, Durability::Lazy);
        std::thread::spawn(move || {
            let _ = tx.send(commit.wait_parked());
        });
        match rx.recv_timeout(HEALTH_TIMEOUT) {
            Ok(result) => result,
            Err(_) => Err(JournalError::Other(format!(
                "the journal writer did not commit within {} s",
                HEALTH_TIMEOUT.as_secs()
            ))),
        }
    }

    fn events(&self) -> Option<broadcast::Receiver<JournalEvent>> {
        Some(self.inner.events.subscribe())
    }

    fn request_cancel(&self, run_id: &str, reason: Option<&str>) -> Result<bool> {
        let payload = listen::cancel_payload(run_id, reason);
        let channel = self.inner.channel.clone();
        self.control(query!(|db| {
            db.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                .await?;
            Ok(true)
        }))
    }
}
