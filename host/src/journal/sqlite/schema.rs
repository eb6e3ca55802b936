//! The schema of the SQLite journal: numbered migrations, the stamp that
//! tells a relive journal from any other file, and how a connection is
//! opened.

use super::super::JournalError;
use rusqlite::{Connection, OpenFlags};
use std::io::Read;
use std::path::Path;

/// Stamped into every relive journal (`PRAGMA application_id`): "RLVE".
pub const APPLICATION_ID: i64 = 0x524c_5645;

/// Numbered migrations; migration N brings the schema to `user_version` N.
/// Append only: never edit a migration that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
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
    // 5: fencing, processes, run policies. Every claim of a run bumps
    //    `lease_generation`, and writes made while executing a run carry the
    //    generation they were claimed with. Lease owners are now random
    //    instance ids registered in `instances` (host and pid are not an
    //    identity: containers share both); a lease of the old `host:pid:start`
    //    form is kept and simply expires (stop relive processes of older
    //    versions before upgrading: their writes carry no generation).
    //    `policy` fixes what shapes a run's journal when it starts.
    r#"
    ALTER TABLE runs ADD COLUMN lease_generation INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN policy TEXT;
    CREATE INDEX runs_by_lease_owner ON runs(lease_owner) WHERE lease_owner IS NOT NULL;
    CREATE INDEX runs_by_created ON runs(created_at, id);
    CREATE TABLE instances (
        id          TEXT PRIMARY KEY,
        host        TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        boot_id     TEXT NOT NULL,
        pid_ns      TEXT NOT NULL,
        start_time  TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        seen_at     INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 6: child runs (`agents.spawn`): a run names the run that started it.
    r#"
    ALTER TABLE runs ADD COLUMN parent_id TEXT;
    CREATE INDEX runs_by_parent ON runs(parent_id) WHERE parent_id IS NOT NULL;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The journal's clock, in Unix milliseconds, as an SQL expression: lease
/// expiry is decided by the database's clock, not by each host's (DESIGN §11).
pub(crate) const SQL_NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// How long opening a journal keeps retrying while another process holds
/// a lock SQLite will not wait for.
const OPEN_BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `open` again while it fails with `SQLITE_BUSY`. Several processes
/// opening a new journal at once contend for the locks that switching to
/// WAL and migrating take; in some of those cases SQLite returns BUSY at
/// once instead of calling the busy handler.
pub(super) fn retry_busy<T>(
    mut open: impl FnMut() -> Result<T, JournalError>,
) -> Result<T, JournalError> {
    let give_up = std::time::Instant::now() + OPEN_BUSY_RETRY;
    loop {
        match open() {
            Err(JournalError::Busy(_)) if std::time::Instant::now() < give_up => {
                std::thread::sleep(std::time::Duration::from_millis(
                    5 + rand::random::<u64>() % 20,
                ));
            }
            other => return other,
        }
    }
}

/// Rejects files that are not SQLite before SQLite gets to misread them.
pub(super) fn check_header(path: &Path) -> Result<(), JournalError> {
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

pub(super) fn open_connection(path: &Path) -> Result<Connection, JournalError> {
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
        _ => JournalError::from(e),
    }
}

/// Checks the stamp and applies pending migrations.
///
/// Several processes may open a new journal at once, so the check and the
/// migrations run inside one write-locked (`BEGIN IMMEDIATE`) transaction:
/// the second process waits, then finds the schema already in place.
pub(super) fn prepare_schema(conn: &Connection, shown: &str) -> Result<(), JournalError> {
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
