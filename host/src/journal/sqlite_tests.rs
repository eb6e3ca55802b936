//! Tests of the SQLite journal itself, on real files: its stamp, its
//! migrations, what it does with files that are not journals. (The tests
//! every backend must pass are in `journal_tests.rs`.)

use super::SyncPolicy;
use super::sqlite::SqliteJournal;
use super::sqlite::{APPLICATION_ID, SCHEMA_VERSION};
use super::*;

fn new_run(journal: &SqliteJournal, id: &str) {
    journal
        .put_component("sha256:c", b"bytes")
        .wait_blocking()
        .unwrap();
    journal
        .create_run(NewRun {
            id: id.into(),
            agent: "a".into(),
            component_digest: "sha256:c".into(),
            input: "in".into(),
            config_path: None,
            policy: None,
            parent: None,
            lease: None,
        })
        .wait_blocking()
        .unwrap();
}

#[test]
fn new_journal_is_stamped_and_migrated_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    {
        let j = SqliteJournal::open(&path, SyncPolicy::Critical).unwrap();
        new_run(&j, "r1");
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        (app, version, mode.as_str()),
        (APPLICATION_ID, SCHEMA_VERSION, "wal")
    );
    drop(conn);
    let j = SqliteJournal::open_existing(&path).unwrap();
    assert_eq!(j.find_run("r1").unwrap().status, RunStatus::Running);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    drop(SqliteJournal::open(&path, SyncPolicy::Critical).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    drop(conn);
    let err = SqliteJournal::open_existing(&path)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("newer relive"), "{err}");
}

#[test]
fn empty_file_becomes_a_journal_but_garbage_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    SqliteJournal::open(&empty, SyncPolicy::Critical).unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not sqlite at all, not even close").unwrap();
    let err = SqliteJournal::open(&garbage, SyncPolicy::Critical)
        .err()
        .unwrap();
    assert!(matches!(err, JournalError::NotADatabase { .. }), "{err}");
}

/// Issue 12.1: a journal of schema 3 that holds entries must migrate. The
/// rebuild of `runs` in migration 4 used to fail with `FOREIGN KEY
/// constraint failed`, because dropping the old table counted a deferred
/// violation for every entry that pointed at it.
#[test]
fn journal_of_schema_3_with_entries_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .unwrap();
        for (i, migration) in super::sqlite::MIGRATIONS.iter().take(3).enumerate() {
            conn.execute_batch(migration).unwrap();
            conn.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
                i + 1
            ))
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO components VALUES ('sha256:c', 5, x'0061736d00', 1);
             INSERT INTO runs (id, agent, component_digest, input, status, created_at, updated_at)
                 VALUES ('r1', 'a', 'sha256:c', 'in', 'suspended', 1, 2);
             INSERT INTO entries (run_id, seq, kind, name, request_digest, request, response, state, started_at)
                 VALUES ('r1', 0, 'clock', 'wall', 'd', 'null', '[1,2]', 'completed', 1);",
        )
        .unwrap();
    }
    let j = SqliteJournal::open_existing(&path).unwrap();
    assert_eq!(j.find_run("r1").unwrap().status, RunStatus::Suspended);
    assert_eq!(j.entries("r1").unwrap().len(), 1);
    drop(j);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let fk_on: i64 = conn
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(fk_on, 0, "no foreign key violations after migrating");
}
