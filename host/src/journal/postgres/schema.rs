//! The schema of the PostgreSQL journal: numbered migrations, applied once
//! under an advisory lock however many processes start at once, and the
//! database's clock.
//!
//! Tables are made in the first schema of the session's `search_path`, so
//! one database may hold several journals (one schema each: add
//! `?options=-c%20search_path%3DNAME` to the URL). Times are BIGINT Unix
//! milliseconds, as in the SQLite journal, so `relive migrate` copies them
//! as they are. Text a guest or a user gives (inputs, outputs, errors,
//! names, requests, responses) is UTF-8 in BYTEA columns: PostgreSQL's TEXT
//! cannot hold a NUL character. Run ids sort bytewise (`COLLATE "C"`), as
//! in SQLite, whatever the database's locale.

use super::client::{Db, Result};
use crate::journal::JournalError;

/// Numbered migrations; migration N is recorded as version N in
/// `relive_migrations`. Append only: never edit a migration that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the journal as the SQLite journal's schema 6 has it.
    r#"
    CREATE TABLE components (
        digest      TEXT PRIMARY KEY,
        size        BIGINT NOT NULL,
        bytes       BYTEA NOT NULL,
        created_at  BIGINT NOT NULL
    );
    CREATE TABLE runs (
        id                TEXT COLLATE "C" PRIMARY KEY,
        agent             TEXT NOT NULL,
        component_digest  TEXT NOT NULL REFERENCES components(digest),
        input             BYTEA NOT NULL,
        status            TEXT NOT NULL CHECK (status IN
                            ('running','suspended','completed','failed','diverged','uncertain','cancelled')),
        output            BYTEA,
        error             BYTEA,
        config_path       TEXT,
        created_at        BIGINT NOT NULL,
        updated_at        BIGINT NOT NULL,
        lease_owner       TEXT,
        lease_expires_at  BIGINT,
        lease_generation  BIGINT NOT NULL DEFAULT 0,
        ready_at          BIGINT,
        policy            TEXT,
        parent_id         TEXT COLLATE "C"
    );
    CREATE INDEX runs_by_status ON runs (status, updated_at);
    -- When a run is next due: when it is ready, or when its lease expires.
    -- Claims scan this, so runs being executed are not rescanned.
    CREATE INDEX runs_due ON runs ((GREATEST(ready_at, COALESCE(lease_expires_at, 0))))
        WHERE ready_at IS NOT NULL AND status IN ('running', 'suspended');
    CREATE INDEX runs_by_lease_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;
    CREATE INDEX runs_by_created ON runs (created_at, id);
    CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
    CREATE TABLE entries (
        run_id          TEXT COLLATE "C" NOT NULL REFERENCES runs(id),
        seq             BIGINT NOT NULL,
        kind            TEXT NOT NULL,
        name            BYTEA NOT NULL,
        request_digest  TEXT NOT NULL,
        request         BYTEA NOT NULL,
        response        BYTEA,
        state           TEXT NOT NULL CHECK (state IN ('started','completed')),
        started_at      BIGINT NOT NULL,
        finished_at     BIGINT,
        input_tokens    BIGINT,
        output_tokens   BIGINT,
        resolution      TEXT,
        packed          INTEGER NOT NULL DEFAULT 0,
        attempts        TEXT,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE blobs (
        digest  TEXT PRIMARY KEY,
        size    BIGINT NOT NULL,
        bytes   TEXT NOT NULL
    );
    CREATE TABLE instances (
        id          TEXT PRIMARY KEY,
        host        TEXT NOT NULL,
        pid         BIGINT NOT NULL,
        boot_id     TEXT NOT NULL,
        pid_ns      TEXT NOT NULL,
        start_time  TEXT NOT NULL,
        started_at  BIGINT NOT NULL,
        seen_at     BIGINT NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database's clock in Unix milliseconds, as SQL: lease expiry is
/// decided by it, not by each host's clock (DESIGN §11). A scalar subquery
/// is evaluated once per statement and may bound an index scan;
/// `clock_timestamp()` alone is volatile (a filter on every row), and
/// `now()` is the time the transaction began.
pub(crate) const NOW_MS: &str = "(SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint)";

/// The key of the advisory lock migrations take ("relive").
const MIGRATE_LOCK: i64 = 0x7265_6c69_7665;

/// The tables a relive journal has: a schema holding some of them but no
/// `relive_migrations` belongs to something else.
const TABLES: [&str; 5] = ["components", "runs", "entries", "blobs", "instances"];

/// Checks the schema and applies pending migrations, in one transaction
/// under an advisory lock: a second process waits, then finds them applied.
/// Without `create`, a database with no journal is an error.
pub(super) async fn prepare(db: Db<'_>, shown: &str, create: bool) -> Result<()> {
    if let Some(version) = version(db).await?
        && version == SCHEMA_VERSION
    {
        return Ok(()); // the common case: no lock needed
    }
    db.batch("BEGIN").await?;
    let result = migrate(db, shown, create).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = db.batch(end).await;
    result?;
    Ok(ended?)
}

/// The version recorded in this schema, `None` if it has no journal.
async fn version(db: Db<'_>) -> Result<Option<i64>> {
    let exists: bool = db
        .query_one(
            // Read from the catalog with this statement's snapshot: after
            // waiting for the lock, this sees another process's migration.
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                            WHERE schemaname = current_schema() AND tablename = 'relive_migrations')",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = db
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::bigint FROM relive_migrations",
            &[],
        )
        .await?;
    Ok(Some(row.get(0)))
}

async fn migrate(db: Db<'_>, shown: &str, create: bool) -> Result<()> {
    db.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await?;
    let schema: Option<String> = db.query_one("SELECT current_schema()", &[]).await?.get(0);
    let Some(schema) = schema else {
        return Err(JournalError::Other(format!(
            "{shown}: the session has no schema to create the journal in (its search_path names none that exists); create one, or fix search_path in the URL's options"
        )));
    };
    let current = match version(db).await? {
        Some(v) => v,
        None => {
            refuse_foreign(db, shown, &schema).await?;
            if !create {
                return Err(JournalError::Other(format!(
                    "no journal in {shown} (schema {schema}); start a run with `relive run --db URL`, or copy one in with `relive migrate`"
                )));
            }
            db.batch(
                "CREATE TABLE relive_migrations (
                         version     INTEGER PRIMARY KEY,
                         applied_at  TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await?;
            0
        }
    };
    if current > SCHEMA_VERSION {
        return Err(JournalError::TooNew {
            path: shown.to_string(),
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let target = i as i32 + 1;
        db.batch(sql).await.map_err(|e| {
            JournalError::Other(format!(
                "cannot migrate the journal in {shown} to schema {target}: {}",
                super::client::describe(&e)
            ))
        })?;
        db.execute(
            "INSERT INTO relive_migrations (version) VALUES ($1)",
            &[&target],
        )
        .await?;
    }
    Ok(())
}

/// Refuses a schema that holds tables of the journal's names without
/// being a journal: relive would read or break someone else's data.
async fn refuse_foreign(db: Db<'_>, shown: &str, schema: &str) -> Result<()> {
    let names: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    let found: Vec<String> = db
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_name = ANY($2) ORDER BY 1",
            &[&schema, &names],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(JournalError::Other(format!(
        "schema {schema} of {shown} holds tables named like a journal's ({}) but is not a relive journal; give relive a database or schema of its own (e.g. ?options=-c%20search_path%3Drelive, after CREATE SCHEMA relive)",
        found.join(", ")
    )))
}
