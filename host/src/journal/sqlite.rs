//! The SQLite journal: one database file in WAL mode (DESIGN §3).
//!
//! Opening checks that the file is a relive journal (an `application_id`
//! stamp) and applies numbered migrations. Writes go to one writer thread
//! (see `writer.rs`) that groups them into transactions; reads use their own
//! connection, which WAL lets run beside the writer.

use super::blobs;
use super::writer::{Job, Op, Writer};
use super::{
    Commit, Completion, Durability, Entry, EntryKind, EntryState, Journal, JournalError, Lease,
    NewRun, ReadyRun, Resolution, RunRecord, RunStatus, now_ms,
};
use crate::config::FsyncPolicy;
use crate::llm::Usage;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Stamped into every relive journal (`PRAGMA application_id`): "RLVE".
pub const APPLICATION_ID: i64 = 0x524c_5645;

/// Numbered migrations; migration N brings the schema to `user_version` N.
/// Append only: never edit a migration that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: components, runs, entries.
    r#"
    CREATE TABLE components (
        digest      TEXT PRIMARY KEY,
        size        INTEGER NOT NULL,
        bytes       BLOB NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE runs (
        id                TEXT PRIMARY KEY,
        agent             TEXT NOT NULL,
        component_digest  TEXT NOT NULL REFERENCES components(digest),
        input             TEXT NOT NULL,
        status            TEXT NOT NULL CHECK (status IN
                            ('running','suspended','completed','failed','diverged','uncertain')),
        output            TEXT,
        error             TEXT,
        config_path       TEXT,
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL,
        lease_owner       TEXT,
        lease_expires_at  INTEGER
    );
    CREATE INDEX runs_by_status ON runs(status, updated_at);
    CREATE TABLE entries (
        run_id          TEXT NOT NULL REFERENCES runs(id),
        seq             INTEGER NOT NULL,
        kind            TEXT NOT NULL,
        name            TEXT NOT NULL,
        request_digest  TEXT NOT NULL,
        request         TEXT NOT NULL,
        response        TEXT,
        state           TEXT NOT NULL CHECK (state IN ('started','completed')),
        started_at      INTEGER NOT NULL,
        finished_at     INTEGER,
        input_tokens    INTEGER,
        output_tokens   INTEGER,
        resolution      TEXT,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    "#,
    // 2: content-addressed blobs for large payloads; `packed` says which of
    //    request (1) and response (2) hold blob references.
    r#"
    CREATE TABLE blobs (
        digest  TEXT PRIMARY KEY,
        size    INTEGER NOT NULL,
        bytes   TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE entries ADD COLUMN packed INTEGER NOT NULL DEFAULT 0;
    "#,
    // 3: failed attempts of retried calls (JSON list), as metadata.
    r#"
    ALTER TABLE entries ADD COLUMN attempts TEXT;
    "#,
    // 4: runs can be cancelled, and say when they are ready to be worked on
    //    (`ready_at`: new and interrupted runs, due timers, answered waits)
    //    for `relive serve`. SQLite cannot change a CHECK constraint, so the
    //    table is rebuilt; the foreign keys from `entries` are checked at
    //    commit, when the new table holds every run again. Suspended runs
    //    are made ready once, so that a service re-reads what they wait for.
    r#"
    PRAGMA defer_foreign_keys = ON;
    CREATE TABLE runs_v4 (
        id                TEXT PRIMARY KEY,
        agent             TEXT NOT NULL,
        component_digest  TEXT NOT NULL REFERENCES components(digest),
        input             TEXT NOT NULL,
        status            TEXT NOT NULL CHECK (status IN
                            ('running','suspended','completed','failed','diverged','uncertain','cancelled')),
        output            TEXT,
        error             TEXT,
        config_path       TEXT,
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL,
        lease_owner       TEXT,
        lease_expires_at  INTEGER,
        ready_at          INTEGER
    );
    INSERT INTO runs_v4
        SELECT id, agent, component_digest, input, status, output, error, config_path,
               created_at, updated_at, NULL, NULL,
               CASE WHEN status IN ('running', 'suspended') THEN updated_at END
        FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_v4 RENAME TO runs;
    CREATE INDEX runs_by_status ON runs(status, updated_at);
    CREATE INDEX runs_ready ON runs(ready_at) WHERE ready_at IS NOT NULL;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A journal in one SQLite file.
pub struct SqliteJournal {
    path: PathBuf,
    reader: Mutex<Connection>,
    writer: Writer,
}

impl SqliteJournal {
    /// Opens the journal at `path`, creating it if it does not exist.
    pub fn open(path: &Path, fsync: FsyncPolicy) -> Result<SqliteJournal, JournalError> {
        Self::open_with(path, fsync, true)
    }

    /// Opens an existing journal; a missing file is an error that says how
    /// to make one.
    pub fn open_existing(path: &Path) -> Result<SqliteJournal, JournalError> {
        Self::open_with(path, FsyncPolicy::Critical, false)
    }

    fn open_with(
        path: &Path,
        fsync: FsyncPolicy,
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
        let (conn, reader) = retry_busy(|| {
            let conn = open_connection(path)?;
            prepare_schema(&conn, &shown)?;
            Ok((conn, open_connection(path)?))
        })?;
        let writer = Writer::spawn(conn, fsync)
            .map_err(|e| JournalError::Other(format!("cannot start journal writer: {e}")))?;
        Ok(SqliteJournal {
            path: path.to_path_buf(),
            reader: Mutex::new(reader),
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

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

/// How long opening a journal keeps retrying while another process holds
/// a lock SQLite will not wait for.
const OPEN_BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `open` again while it fails with `SQLITE_BUSY`. Several processes
/// opening a new journal at once contend for the locks that switching to
/// WAL and migrating take; in some of those cases SQLite returns BUSY at
/// once instead of calling the busy handler.
fn retry_busy<T>(mut open: impl FnMut() -> Result<T, JournalError>) -> Result<T, JournalError> {
    let give_up = std::time::Instant::now() + OPEN_BUSY_RETRY;
    loop {
        match open() {
            Err(JournalError::Sqlite(e))
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < give_up =>
            {
                std::thread::sleep(std::time::Duration::from_millis(
                    5 + rand::random::<u64>() % 20,
                ));
            }
            other => return other,
        }
    }
}

/// Rejects files that are not SQLite before SQLite gets to misread them.
fn check_header(path: &Path) -> Result<(), JournalError> {
    let shown = path.display().to_string();
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path)
        .map_err(|e| JournalError::Other(format!("cannot open journal {shown}: {e}")))?;
    let n = file
        .read(&mut header)
        .map_err(|e| JournalError::Other(format!("cannot read journal {shown}: {e}")))?;
    if n == 0 {
        return Ok(()); // an empty file becomes a new journal
    }
    if n < 16 || &header != b"SQLite format 3\0" {
        return Err(JournalError::NotADatabase { path: shown });
    }
    Ok(())
}

fn open_connection(path: &Path) -> Result<Connection, JournalError> {
    let shown = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| JournalError::Other(format!("cannot open journal {shown}: {e}")))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let setup = conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    );
    if let Err(e) = setup {
        return Err(map_open_error(e, shown));
    }
    Ok(conn)
}

fn map_open_error(e: rusqlite::Error, path: String) -> JournalError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            JournalError::NotADatabase { path }
        }
        _ => JournalError::Sqlite(e),
    }
}

/// Checks the stamp and applies pending migrations.
///
/// Several processes may open a new journal at once, so the check and the
/// migrations run inside one write-locked (`BEGIN IMMEDIATE`) transaction:
/// the second process waits, then finds the schema already in place.
fn prepare_schema(conn: &Connection, shown: &str) -> Result<(), JournalError> {
    let (app_id, version) = stamp(conn, shown)?;
    if app_id == APPLICATION_ID && version == SCHEMA_VERSION {
        return Ok(()); // the common case: no write lock needed
    }
    // Migrations that rebuild a table (SQLite cannot alter a constraint)
    // drop the old table while other tables point at it. SQLite's documented
    // way: foreign keys off, outside the transaction (the pragma is a no-op
    // inside one), then `PRAGMA foreign_key_check` before the commit.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let result = (|| {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| map_open_error(e, shown.to_string()))?;
        let result = migrate(conn, shown).and_then(|()| check_foreign_keys(conn, shown));
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        conn.execute_batch(end)?;
        result
    })();
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    result
}

/// Refuses to commit a migration that left a row pointing at nothing.
fn check_foreign_keys(conn: &Connection, shown: &str) -> Result<(), JournalError> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let broken: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    if let Some((table, parent)) = broken.first() {
        return Err(JournalError::Other(format!(
            "cannot migrate journal {shown}: {} rows of `{table}` point at missing rows of `{parent}`; the journal is damaged: keep a copy and report it",
            broken.len()
        )));
    }
    Ok(())
}

fn stamp(conn: &Connection, shown: &str) -> Result<(i64, i64), JournalError> {
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| map_open_error(e, shown.to_string()))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok((app_id, version))
}

/// Runs inside the write lock of [`prepare_schema`].
fn migrate(conn: &Connection, shown: &str) -> Result<(), JournalError> {
    let (app_id, version) = stamp(conn, shown)?;
    if app_id != APPLICATION_ID {
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if app_id != 0 || !tables.is_empty() {
            return Err(JournalError::Foreign {
                path: shown.to_string(),
                tables: if tables.is_empty() {
                    "none".into()
                } else {
                    tables.join(", ")
                },
            });
        }
    }
    if version > SCHEMA_VERSION {
        return Err(JournalError::TooNew {
            path: shown.to_string(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let target = i as i64 + 1;
        let sql = format!(
            "{migration} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {target};"
        );
        conn.execute_batch(&sql).map_err(|e| {
            JournalError::Other(format!(
                "cannot migrate journal {shown} to schema {target}: {e}"
            ))
        })?;
    }
    Ok(())
}

const RUN_COLUMNS: &str = "id, agent, component_digest, input, status, output, error, config_path, created_at, updated_at";

fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(RunRecord, String)> {
    let status: String = row.get(4)?;
    Ok((
        RunRecord {
            id: row.get(0)?,
            agent: row.get(1)?,
            component_digest: row.get(2)?,
            input: row.get(3)?,
            status: RunStatus::Running,
            output: row.get(5)?,
            error: row.get(6)?,
            config_path: row.get(7)?,
            created_at_ms: row.get(8)?,
            updated_at_ms: row.get(9)?,
        },
        status,
    ))
}

fn finish_run(pair: (RunRecord, String)) -> Result<RunRecord, JournalError> {
    let (mut run, status) = pair;
    run.status = status
        .parse()
        .map_err(|e: String| JournalError::Other(format!("run {} is damaged: {e}", run.id)))?;
    Ok(run)
}

impl Journal for SqliteJournal {
    fn put_component(&self, digest: &str, bytes: &[u8]) -> Commit {
        self.submit(
            Op::PutComponent {
                digest: digest.to_string(),
                bytes: bytes.to_vec(),
            },
            Durability::Sync,
        )
    }

    fn create_run(&self, run: NewRun) -> Commit {
        self.submit(Op::CreateRun(run), Durability::Sync)
    }

    fn import_run(&self, run: RunRecord, entries: Vec<Entry>) -> Commit {
        self.submit(Op::Import { run, entries }, Durability::Sync)
    }

    fn set_component(&self, run_id: &str, digest: &str) -> Commit {
        self.submit(
            Op::SetComponent {
                run_id: run_id.to_string(),
                digest: digest.to_string(),
            },
            Durability::Sync,
        )
    }

    fn append(&self, run_id: &str, entry: Entry, durability: Durability) -> Commit {
        self.submit(
            Op::Append {
                run_id: run_id.to_string(),
                entry,
            },
            durability,
        )
    }

    fn complete(
        &self,
        run_id: &str,
        seq: u64,
        completion: Completion,
        durability: Durability,
    ) -> Commit {
        self.submit(
            Op::Complete {
                run_id: run_id.to_string(),
                seq,
                completion,
            },
            durability,
        )
    }

    fn resolve(
        &self,
        run_id: &str,
        seq: u64,
        resolution: Resolution,
        response: Option<String>,
    ) -> Commit {
        self.submit(
            Op::Resolve {
                run_id: run_id.to_string(),
                seq,
                resolution,
                response,
            },
            Durability::Sync,
        )
    }

    fn set_status(
        &self,
        run_id: &str,
        status: RunStatus,
        output: Option<String>,
        error: Option<String>,
        durability: Durability,
    ) -> Commit {
        self.submit(
            Op::SetStatus {
                run_id: run_id.to_string(),
                status,
                output,
                error,
            },
            durability,
        )
    }

    fn set_ready(&self, run_id: &str, at_ms: Option<i64>, durability: Durability) -> Commit {
        self.submit(
            Op::SetReady {
                run_id: run_id.to_string(),
                at_ms,
            },
            durability,
        )
    }

    fn claim(
        &self,
        run_id: &str,
        lease: &Lease,
        now_ms: i64,
        take_from: Option<&str>,
    ) -> Result<bool, JournalError> {
        self.with_reader(|conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE runs SET lease_owner = ?2, lease_expires_at = ?3
                     WHERE id = ?1 AND status IN ('running', 'suspended')
                       AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_expires_at < ?4
                            OR lease_owner = ?5)",
                )?
                .execute(params![
                    run_id,
                    lease.owner,
                    lease.expires_at_ms,
                    now_ms,
                    take_from
                ])?;
            Ok(changed == 1)
        })
    }

    fn renew_leases(&self, owner: &str, expires_at_ms: i64) -> Result<usize, JournalError> {
        self.with_reader(|conn| {
            Ok(conn
                .prepare_cached("UPDATE runs SET lease_expires_at = ?2 WHERE lease_owner = ?1")?
                .execute(params![owner, expires_at_ms])?)
        })
    }

    fn release(&self, run_id: &str, owner: &str) -> Result<(), JournalError> {
        self.with_reader(|conn| {
            conn.prepare_cached(
                "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL,
                     ready_at = CASE WHEN status IN ('running', 'suspended') THEN ?3 END
                 WHERE id = ?1 AND lease_owner = ?2",
            )?
            .execute(params![run_id, owner, now_ms()])?;
            Ok(())
        })
    }

    fn ready_runs(&self, now_ms: i64, limit: usize) -> Result<Vec<ReadyRun>, JournalError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, ready_at FROM runs
                 WHERE ready_at IS NOT NULL AND ready_at <= ?1
                   AND status IN ('running', 'suspended')
                   AND (lease_owner IS NULL OR lease_expires_at < ?1)
                 ORDER BY ready_at LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![now_ms, limit as i64], |r| {
                    Ok(ReadyRun {
                        id: r.get(0)?,
                        ready_at_ms: r.get(1)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn lease_owners(&self) -> Result<Vec<String>, JournalError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT lease_owner FROM runs WHERE lease_owner IS NOT NULL",
            )?;
            let owners = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(owners)
        })
    }

    fn break_leases(&self, owner: &str) -> Result<usize, JournalError> {
        self.with_reader(|conn| {
            Ok(conn
                .prepare_cached(
                    "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL,
                         ready_at = CASE WHEN status IN ('running', 'suspended')
                                         THEN MIN(COALESCE(ready_at, ?2), ?2) END
                     WHERE lease_owner = ?1",
                )?
                .execute(params![owner, now_ms()])?)
        })
    }

    fn next_ready_at(&self) -> Result<Option<i64>, JournalError> {
        self.with_reader(|conn| {
            Ok(conn.query_row(
                // A leased run is not ready before its lease expires: without
                // this, every run being executed kept the scheduler spinning.
                "SELECT MIN(CASE WHEN lease_owner IS NULL THEN ready_at
                                 ELSE MAX(ready_at, lease_expires_at) END)
                 FROM runs WHERE ready_at IS NOT NULL
                   AND status IN ('running', 'suspended')",
                [],
                |r| r.get(0),
            )?)
        })
    }

    fn lease(&self, run_id: &str) -> Result<Option<Lease>, JournalError> {
        self.with_reader(|conn| {
            let row: Option<(Option<String>, Option<i64>)> = conn
                .query_row(
                    "SELECT lease_owner, lease_expires_at FROM runs WHERE id = ?1",
                    [run_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(row.and_then(|(owner, expires)| {
                owner.map(|owner| Lease {
                    owner,
                    expires_at_ms: expires.unwrap_or(0),
                })
            }))
        })
    }

    fn find_run(&self, id_or_prefix: &str) -> Result<RunRecord, JournalError> {
        self.with_reader(|conn| {
            let exact = conn
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                    [id_or_prefix],
                    run_from_row,
                )
                .optional()?;
            if let Some(run) = exact {
                return finish_run(run);
            }
            if id_or_prefix.len() < 4 || !id_or_prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(JournalError::UnknownRun(id_or_prefix.to_string()));
            }
            let mut stmt = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE id LIKE ?1 || '%' ORDER BY id LIMIT 6"
            ))?;
            let found: Vec<_> = stmt
                .query_map([id_or_prefix], run_from_row)?
                .collect::<Result<_, _>>()?;
            match found.len() {
                0 => Err(JournalError::UnknownRun(id_or_prefix.to_string())),
                1 => finish_run(found.into_iter().next().expect("one run")),
                _ => Err(JournalError::AmbiguousRun {
                    prefix: id_or_prefix.to_string(),
                    matches: found
                        .iter()
                        .map(|(r, _)| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        })
    }

    fn runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC, id DESC"
            ))?;
            let rows: Vec<_> = stmt
                .query_map([], run_from_row)?
                .collect::<Result<_, _>>()?;
            rows.into_iter().map(finish_run).collect()
        })
    }

    fn entries(&self, run_id: &str) -> Result<Vec<Entry>, JournalError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, kind, name, request_digest, request, response, state, started_at,
                        finished_at, input_tokens, output_tokens, resolution, packed, attempts
                 FROM entries WHERE run_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([run_id], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, i64>(7)?,
                    row.get::<_, Option<i64>>(8)?,
                    row.get::<_, Option<i64>>(9)?,
                    row.get::<_, Option<i64>>(10)?,
                    row.get::<_, Option<String>>(11)?,
                    row.get::<_, i64>(12)?,
                    row.get::<_, Option<String>>(13)?,
                ))
            })?;
            let rows: Vec<_> = rows.collect::<Result<_, _>>()?;
            let mut blob_stmt = conn.prepare_cached("SELECT bytes FROM blobs WHERE digest = ?1")?;
            let mut fetch = |digest: &str| -> Option<String> {
                blob_stmt
                    .query_row([digest], |r| r.get(0))
                    .optional()
                    .ok()
                    .flatten()
            };
            let mut entries = Vec::new();
            for (expected, row) in rows.into_iter().enumerate() {
                let (
                    seq,
                    kind,
                    name,
                    request_digest,
                    request,
                    response,
                    state,
                    started,
                    finished,
                    tin,
                    tout,
                    resolution,
                    packed,
                    attempts,
                ) = row;
                let seq = seq as u64;
                let damaged = |message: String| JournalError::Damaged {
                    run_id: run_id.to_string(),
                    seq,
                    message,
                };
                if seq != expected as u64 {
                    return Err(damaged(format!(
                        "entries are not contiguous: expected #{expected}"
                    )));
                }
                let request = if packed & 1 != 0 {
                    blobs::unpack(&request, &mut fetch).map_err(damaged)?
                } else {
                    request
                };
                let response = match response {
                    Some(text) if packed & 2 != 0 => {
                        Some(blobs::unpack(&text, &mut fetch).map_err(damaged)?)
                    }
                    other => other,
                };
                let kind: EntryKind = kind.parse().map_err(damaged)?;
                let state: EntryState = state.parse().map_err(damaged)?;
                if state == EntryState::Completed && response.is_none() {
                    return Err(damaged("completed entry has no response".into()));
                }
                let resolution = match resolution {
                    Some(text) => Some(
                        serde_json::from_str::<Resolution>(&text)
                            .map_err(|e| damaged(format!("bad resolution: {e}")))?,
                    ),
                    None => None,
                };
                entries.push(Entry {
                    seq,
                    kind,
                    name,
                    request_digest,
                    request,
                    response,
                    state,
                    started_at_ms: started,
                    finished_at_ms: finished,
                    usage: match (tin, tout) {
                        (Some(i), Some(o)) => Some(Usage {
                            input_tokens: i as u32,
                            output_tokens: o as u32,
                        }),
                        _ => None,
                    },
                    resolution,
                    attempts: match attempts {
                        Some(text) => serde_json::from_str(&text)
                            .map_err(|e| damaged(format!("bad attempts: {e}")))?,
                        None => Vec::new(),
                    },
                });
            }
            Ok(entries)
        })
    }

    fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, JournalError> {
        self.with_reader(|conn| {
            Ok(conn
                .query_row(
                    "SELECT bytes FROM components WHERE digest = ?1",
                    params![digest],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }
}
