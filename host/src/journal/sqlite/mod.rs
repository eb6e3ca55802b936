//! The SQLite journal: one database file in WAL mode (DESIGN §3).
//!
//! Opening checks that the file is a relive journal (an `application_id`
//! stamp) and applies numbered migrations (`schema.rs`). Writes go to one
//! writer thread (`writer.rs`) that groups them into transactions; reads use
//! a small pool of their own connections, which WAL lets run beside the
//! writer; leases and the scheduler's queries use a control connection
//! (`leases.rs`).

mod leases;
mod prune;
mod read;
mod schema;
mod writer;

#[cfg(test)]
pub(crate) use schema::MIGRATIONS;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

use super::SyncPolicy;
use super::ops::{Job, LeaseAnswer, LeaseOp, Op};
use super::{
    Commit, Completion, Durability, Entry, EntryKind, Fence, Instance, Journal, JournalError,
    JournalInfo, Lease, NewRun, PruneReport, PruneRequest, ReadyRun, ResolveRequest, RunQuery,
    RunRecord, RunSummary, StatusChange,
};
use rusqlite::Connection;
use schema::{check_header, open_connection, prepare_schema, retry_busy};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use writer::Writer;

/// Reader connections per journal: reads of concurrent requests (the
/// service's API, the scheduler, runs resuming) do not wait for each other.
const READERS: usize = 4;
/// How long `health` waits for the writer to answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// A journal in one SQLite file.
pub struct SqliteJournal {
    path: PathBuf,
    fsync: SyncPolicy,
    readers: Vec<Mutex<Connection>>,
    control: Mutex<Connection>,
    writer: Writer,
}

impl SqliteJournal {
    /// Opens the journal at `path`, creating it if it does not exist.
    pub fn open(path: &Path, fsync: SyncPolicy) -> Result<SqliteJournal, JournalError> {
        Self::open_with(path, fsync, true)
    }

    /// Opens an existing journal; a missing file is an error that says how
    /// to make one.
    pub fn open_existing(path: &Path) -> Result<SqliteJournal, JournalError> {
        Self::open_with(path, SyncPolicy::Critical, false)
    }

    /// Opens an existing journal with an fsync policy (see [`SyncPolicy`]).
    pub fn open_existing_with(
        path: &Path,
        fsync: SyncPolicy,
    ) -> Result<SqliteJournal, JournalError> {
        Self::open_with(path, fsync, false)
    }

    /// Rebuilds the file to return the pages freed by deletions to the file
    /// system (`VACUUM`); needs as much free space as the file takes.
    fn vacuum(&self) -> Result<(), JournalError> {
        // In WAL mode VACUUM writes the new file through the WAL: fold it
        // back and truncate the WAL, or the space is not returned.
        self.with_control(|c| Ok(c.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?))
    }

    fn open_with(
        path: &Path,
        fsync: SyncPolicy,
        create: bool,
    ) -> Result<SqliteJournal, JournalError> {
        let shown = path.display().to_string();
        if !path.exists() {
            if !create {
                return Err(JournalError::Other(format!(
                    "no journal at {shown}; start a run with `relive run`, or pass --db with the path of an existing journal"
                )));
            }
            if let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
                && !parent.is_dir()
            {
                return Err(JournalError::Other(format!(
                    "cannot create journal {shown}: directory {} does not exist",
                    parent.display()
                )));
            }
        } else {
            check_header(path)?;
        }
        let conn = retry_busy(|| {
            let conn = open_connection(path)?;
            prepare_schema(&conn, &shown)?;
            Ok(conn)
        })?;
        let readers = (0..READERS)
            .map(|_| open_connection(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        let control = Mutex::new(open_connection(path)?);
        let writer = Writer::spawn(conn, fsync)
            .map_err(|e| JournalError::Other(format!("cannot start journal writer: {e}")))?;
        Ok(SqliteJournal {
            path: path.to_path_buf(),
            fsync,
            readers,
            control,
            writer,
        })
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
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

    /// A lease operation through the writer; waits for its commit (parking
    /// the thread, so it may be called from anywhere).
    fn lease_op(&self, op: LeaseOp) -> Result<LeaseAnswer, JournalError> {
        let answer = std::sync::Arc::new(Mutex::new(LeaseAnswer::Nothing));
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

    /// Runs `f` on a free reader connection (or waits for the first).
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        for reader in &self.readers {
            if let Ok(conn) = reader.try_lock() {
                return f(&conn);
            }
        }
        let conn = self.readers[0].lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }

    fn with_control<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let mut conn = self.control.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    /// Stops the writer thread, as a crash of it would (tests of `health`).
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

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
            JournalError::Busy(e.to_string())
        } else {
            JournalError::Database(e.to_string())
        }
    }
}

impl Journal for SqliteJournal {
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
    ) -> Result<Option<Fence>, JournalError> {
        let op = LeaseOp::Claim {
            run_id: run_id.to_string(),
            owner: owner.to_string(),
            ttl,
            take_from: take_from.map(str::to_string),
        };
        match self.lease_op(op)? {
            LeaseAnswer::Claimed(fence) => Ok(fence),
            other => Err(JournalError::Other(format!("claim answered {other:?}"))),
        }
    }

    fn renew_leases(&self, owner: &str, ttl: Duration) -> Result<usize, JournalError> {
        let op = LeaseOp::Renew {
            owner: owner.to_string(),
            ttl,
        };
        match self.lease_op(op)? {
            LeaseAnswer::Count(n) => Ok(n),
            other => Err(JournalError::Other(format!("renew answered {other:?}"))),
        }
    }

    fn release(&self, fence: &Fence) -> Result<(), JournalError> {
        self.lease_op(LeaseOp::Release(fence.clone())).map(drop)
    }

    fn ready_runs(&self, limit: usize) -> Result<Vec<ReadyRun>, JournalError> {
        self.with_reader(|c| leases::ready_runs(c, limit))
    }

    fn lease_owners(&self) -> Result<Vec<String>, JournalError> {
        self.with_reader(leases::lease_owners)
    }

    fn break_leases(&self, owner: &str) -> Result<usize, JournalError> {
        let op = LeaseOp::Break {
            owner: owner.to_string(),
        };
        match self.lease_op(op)? {
            LeaseAnswer::Count(n) => Ok(n),
            other => Err(JournalError::Other(format!("break answered {other:?}"))),
        }
    }

    fn next_ready_in(&self) -> Result<Option<Duration>, JournalError> {
        self.with_reader(leases::next_ready_in)
    }

    fn lease(&self, run_id: &str) -> Result<Option<Lease>, JournalError> {
        self.with_reader(|c| leases::lease(c, run_id))
    }

    fn register_instance(&self, instance: &Instance) -> Result<(), JournalError> {
        self.lease_op(LeaseOp::Register(instance.clone())).map(drop)
    }

    fn instance(&self, id: &str) -> Result<Option<Instance>, JournalError> {
        self.with_reader(|c| leases::instance(c, id))
    }

    fn find_run(&self, id_or_prefix: &str) -> Result<RunRecord, JournalError> {
        self.with_reader(|c| read::find_run(c, id_or_prefix))
    }

    fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, JournalError> {
        self.with_reader(|c| read::runs(c, query))
    }

    fn entries(&self, run_id: &str) -> Result<Vec<Entry>, JournalError> {
        self.with_reader(|c| read::entries(c, run_id))
    }

    fn summary(&self, run_id: &str) -> Result<RunSummary, JournalError> {
        self.with_reader(|c| read::summary(c, run_id))
    }

    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, JournalError> {
        self.with_reader(|c| read::component(c, digest))
    }

    fn prune(&self, request: &PruneRequest) -> Result<PruneReport, JournalError> {
        self.with_control(|c| prune::prune(c, request))
    }

    fn compact(&self) -> Result<(), JournalError> {
        self.vacuum()
    }

    fn info(&self) -> JournalInfo {
        let wal = format!("{}-wal", self.path.display());
        let bytes = [self.path.clone(), wal.into()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        JournalInfo {
            backend: "sqlite",
            location: self.path.display().to_string(),
            sync: self.fsync,
            bytes: Some(bytes),
        }
    }

    fn backlog_bytes(&self) -> usize {
        self.writer.queued_bytes()
    }

    fn health(&self) -> Result<(), JournalError> {
        if !self.writer.is_alive() {
            return Err(JournalError::WriterGone);
        }
        // A round trip through the writer: it is alive and can commit.
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
}
