//! Tests of the SQLite journal on real files.

use super::SyncPolicy;
use super::sqlite::SqliteJournal;
use super::sqlite::{APPLICATION_ID, SCHEMA_VERSION};
use super::*;
use std::sync::Arc;

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

fn completed(seq: u64, response: &str) -> Entry {
    let mut e = Entry::new(seq, EntryKind::Clock, "wall", "null".into());
    e.response = Some(response.into());
    e.state = EntryState::Completed;
    e
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

#[test]
fn concurrent_writers_are_grouped_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(SqliteJournal::open(&dir.path().join("j.db"), SyncPolicy::Critical).unwrap());
    let runs: Vec<String> = (0..8).map(|i| format!("run{i}")).collect();
    for r in &runs {
        new_run(&j, r);
    }
    let handles: Vec<_> = runs
        .iter()
        .cloned()
        .map(|run| {
            let j = j.clone();
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                for seq in 0..200u64 {
                    let durability = if seq % 50 == 49 {
                        Durability::Commit
                    } else {
                        Durability::Lazy
                    };
                    pending.push(j.append(
                        &fence(&run),
                        completed(seq, &format!("{seq}")),
                        durability,
                    ));
                }
                for c in pending {
                    c.wait_blocking().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for r in &runs {
        let entries = j.entries(r).unwrap();
        assert_eq!(entries.len(), 200);
        assert!(
            entries
                .iter()
                .enumerate()
                .all(|(i, e)| e.response.as_deref() == Some(i.to_string().as_str()))
        );
    }
}

#[test]
fn a_failed_entry_write_poisons_later_writes_of_that_run_only() {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(&dir.path().join("j.db"), SyncPolicy::EveryEntry).unwrap();
    new_run(&j, "a");
    new_run(&j, "b");
    j.append(&fence("a"), completed(0, "x"), Durability::Commit)
        .wait_blocking()
        .unwrap();
    // A duplicate seq violates the primary key: the chain of run `a` breaks.
    assert!(
        j.append(&fence("a"), completed(0, "y"), Durability::Lazy)
            .wait_blocking()
            .is_err()
    );
    let err = j
        .append(&fence("a"), completed(1, "z"), Durability::Commit)
        .wait_blocking()
        .unwrap_err();
    assert!(err.to_string().contains("earlier journal write"), "{err}");
    j.append(&fence("b"), completed(0, "ok"), Durability::Sync)
        .wait_blocking()
        .unwrap();
    assert_eq!(j.entries("a").unwrap().len(), 1);
    assert_eq!(j.entries("b").unwrap().len(), 1);
}

#[test]
fn started_entries_complete_once_and_resolutions_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(&dir.path().join("j.db"), SyncPolicy::Critical).unwrap();
    new_run(&j, "r");
    let e = Entry::new(0, EntryKind::Tool, "t", "{}".into());
    j.append(&fence("r"), e, Durability::Sync)
        .wait_blocking()
        .unwrap();
    // Only an uncertain run is resolved.
    let resolve = || ResolveRequest {
        run_id: "r".into(),
        seq: 0,
        resolution: Resolution::Retry { at_ms: 5 },
        response: None,
        error: None,
    };
    let early = j
        .resolve(resolve())
        .wait_blocking()
        .unwrap_err()
        .to_string();
    assert!(early.contains("not uncertain"), "{early}");
    let uncertain = StatusChange::Ended {
        status: RunStatus::Uncertain,
        output: None,
        error: Some("interrupted".into()),
    };
    j.set_status(&fence("r"), uncertain, Durability::Sync)
        .wait_blocking()
        .unwrap();
    j.resolve(resolve()).wait_blocking().unwrap();
    assert_eq!(j.find_run("r").unwrap().status, RunStatus::Running);
    let got = &j.entries("r").unwrap()[0];
    assert_eq!(got.state, EntryState::Started);
    assert_eq!(got.resolution, Some(Resolution::Retry { at_ms: 5 }));
    let usage = Usage {
        input_tokens: 3,
        output_tokens: 4,
    };
    let attempt = Attempt {
        attempt: 1,
        error: "unavailable: 429".into(),
        retry_in_ms: 1000,
        at_ms: 7,
    };
    let completion = Completion {
        response: "\"done\"".into(),
        usage: Some(usage),
        attempts: vec![attempt.clone()],
    };
    j.complete(&fence("r"), 0, completion, Durability::Commit)
        .wait_blocking()
        .unwrap();
    assert!(
        j.complete(&fence("r"), 0, Completion::default(), Durability::Commit)
            .wait_blocking()
            .is_err()
    );
    let got = &j.entries("r").unwrap()[0];
    assert_eq!(
        (got.state, got.response.as_deref(), got.usage),
        (EntryState::Completed, Some("\"done\""), Some(usage))
    );
    assert_eq!(got.attempts, vec![attempt]);
}

#[test]
fn run_prefixes_resolve_uniquely() {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(&dir.path().join("j.db"), SyncPolicy::Critical).unwrap();
    new_run(&j, "abcd1111");
    new_run(&j, "abcd2222");
    assert_eq!(j.find_run("abcd1").unwrap().id, "abcd1111");
    assert!(matches!(
        j.find_run("abcd"),
        Err(JournalError::AmbiguousRun { .. })
    ));
    assert!(matches!(
        j.find_run("zzzz"),
        Err(JournalError::UnknownRun(_))
    ));
    assert!(
        matches!(j.find_run("ab"), Err(JournalError::UnknownRun(_))),
        "too short for a prefix"
    );
}

/// DESIGN §3: an agent that resends its growing conversation must not grow
/// the journal quadratically.
#[test]
fn sixty_turn_conversation_grows_the_journal_linearly() {
    // A chat request as the LLM import journals it, written out here: the
    // journal knows nothing of the LLM types.
    let message =
        |role: &str, content: String| serde_json::json!({ "role": role, "content": content });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = SqliteJournal::open(&path, SyncPolicy::Critical).unwrap();
    new_run(&j, "r");
    let mut messages = vec![message("system", "You are a helpful agent. ".repeat(40))];
    let (mut raw, turns) = (0usize, 60u64);
    let mut requests = Vec::new();
    for turn in 0..turns {
        messages.push(message(
            "user",
            format!("turn {turn}: {}", "lorem ipsum dolor sit amet ".repeat(40)),
        ));
        let request = serde_json::json!({ "messages": messages, "temperature": 0.7 }).to_string();
        raw += request.len();
        let mut e = Entry::new(turn, EntryKind::Llm, "default", request.clone());
        e.response = Some(format!("{{\"Ok\":\"answer {turn}\"}}"));
        e.state = EntryState::Completed;
        j.append(&fence("r"), e, Durability::Commit)
            .wait_blocking()
            .unwrap();
        requests.push(request);
    }
    // Exact round trip through the packed form.
    let entries = j.entries("r").unwrap();
    assert!(entries.iter().zip(&requests).all(|(e, r)| &e.request == r));
    drop(j);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
        .unwrap();
    let stored: i64 = conn
        .query_row(
            "SELECT (SELECT sum(length(request)) FROM entries) + (SELECT sum(size) FROM blobs)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let file = std::fs::metadata(&path).unwrap().len() as usize;
    // Raw requests add up to ~2 MB. Packed: one copy of every message
    // (~70 KB) plus an 82-byte reference per message per turn (~150 KB).
    assert!(raw > 1_900_000, "raw {raw}");
    assert!(stored < 320_000, "stored {stored} bytes for {raw} raw");
    // Page granularity (overflow pages for the ~5 KB skeletons) dominates the
    // file; it still holds under a third of the raw bytes.
    assert!(
        file < raw / 3,
        "database file is {file} bytes for {raw} bytes of requests"
    );
}

#[test]
fn processes_opening_a_new_journal_at_once_migrate_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteJournal::open(&path, SyncPolicy::Critical).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
}

/// Regression: the service's scheduler asked when the next run is ready
/// and got the ready time of runs it was executing itself, in the past, so
/// it looped without sleeping for as long as any run was active.
#[test]
fn a_leased_run_is_not_ready_before_its_lease_expires() {
    let dir = tempfile::tempdir().unwrap();
    let j = SqliteJournal::open(&dir.path().join("j.db"), SyncPolicy::Critical).unwrap();
    new_run(&j, "r1");
    assert_eq!(j.next_ready_in().unwrap(), Some(std::time::Duration::ZERO));
    let ttl = std::time::Duration::from_secs(60);
    assert!(j.claim("r1", "i-me", ttl, None).unwrap().is_some());
    let wait = j.next_ready_in().unwrap().unwrap();
    assert!(wait > std::time::Duration::from_secs(58), "{wait:?}");
    assert!(j.ready_runs(10).unwrap().is_empty());
    // Another run, not leased, is ready at once again.
    new_run(&j, "r2");
    assert_eq!(j.next_ready_in().unwrap(), Some(std::time::Duration::ZERO));
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
