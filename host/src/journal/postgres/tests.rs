//! Tests of the PostgreSQL journal itself: its migrations, what it refuses,
//! text PostgreSQL cannot store as TEXT, and what several processes sharing
//! one database need (claims, fencing, notifications, reconnecting). The
//! tests every backend must pass are in `journal_tests.rs` and
//! `claims_tests.rs`.

use super::PgJournal;
use crate::journal::backends::{Backend, TestJournal};
use crate::journal::*;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pg(test: &str) -> TestJournal {
    TestJournal::new(Backend::Postgres, test)
}

fn url(j: &TestJournal) -> String {
    match &j.location {
        Location::Postgres(url) => url.clone(),
        Location::Sqlite(_) => unreachable!(),
    }
}

/// Another process's journal on the same database.
fn second(j: &TestJournal) -> Arc<dyn Journal> {
    Arc::new(PgJournal::open(&url(j), SyncPolicy::Critical, false).unwrap())
}

fn completed(seq: u64, response: &str) -> Entry {
    let mut e = Entry::new(seq, EntryKind::Clock, "wall", "null".into());
    e.response = Some(response.into());
    e.state = EntryState::Completed;
    e
}

#[test]
fn migrations_are_recorded_once_and_a_newer_schema_is_refused() {
    let j = pg("newer_schema");
    j.new_run("r1");
    assert_eq!(
        j.scalar("SELECT COUNT(*) FROM relive_migrations"),
        super::SCHEMA_VERSION
    );
    // Reopening applies nothing and reads what is there.
    assert_eq!(
        second(&j).find_run("r1").unwrap().status,
        RunStatus::Running
    );
    j.pg_execute(&format!(
        "INSERT INTO relive_migrations (version) VALUES ({})",
        super::SCHEMA_VERSION + 1
    ))
    .unwrap();
    let err = PgJournal::open(&url(&j), SyncPolicy::Critical, false)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("newer relive"), "{err}");
    assert!(!err.contains("password"), "{err}");
}

#[test]
fn a_schema_of_someone_else_is_refused_and_none_is_not_made_without_create() {
    let server = super::throwaway::shared().unwrap();
    let foreign = super::throwaway::schema_url(&server, "foreign_tables").unwrap();
    let empty = super::throwaway::schema_url(&server, "empty_schema").unwrap();
    let err = PgJournal::open(&empty, SyncPolicy::Critical, false)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no journal in"), "{err}");
    // A table named like one of the journal's, in someone else's schema.
    let j = pg("foreign_probe");
    j.pg_execute("CREATE TABLE foreign_tables.runs (x integer)")
        .unwrap();
    let err = PgJournal::open(&foreign, SyncPolicy::Critical, true)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("not a relive journal") && err.contains("runs"),
        "{err}"
    );
}

#[test]
fn text_holding_nul_characters_round_trips() {
    let j = pg("nul_text");
    j.put_component("sha256:c", b"\0bytes\0")
        .wait_blocking()
        .unwrap();
    j.create_run(NewRun {
        id: "r".into(),
        agent: "a".into(),
        component_digest: "sha256:c".into(),
        input: "in\0put".into(),
        config_path: None,
        policy: None,
        parent: None,
        lease: None,
    })
    .wait_blocking()
    .unwrap();
    let mut e = Entry::new(0, EntryKind::Log, "na\0me", "\"req\"".into());
    e.response = Some("\"x\0y\"".into());
    e.state = EntryState::Completed;
    j.append(&fence("r"), e.clone(), Durability::Commit)
        .wait_blocking()
        .unwrap();
    let end = StatusChange::Ended {
        status: RunStatus::Failed,
        output: Some("o\0ut".into()),
        error: Some("e\0rr".into()),
    };
    j.set_status(&fence("r"), end, Durability::Sync)
        .wait_blocking()
        .unwrap();
    let run = j.find_run("r").unwrap();
    assert_eq!(
        (
            run.input.as_str(),
            run.output.as_deref(),
            run.error.as_deref()
        ),
        ("in\0put", Some("o\0ut"), Some("e\0rr"))
    );
    assert_eq!(j.entries("r").unwrap()[0].name, "na\0me");
    assert_eq!(j.entries("r").unwrap()[0].response, e.response);
    assert_eq!(j.component("sha256:c").unwrap().unwrap(), b"\0bytes\0");
}

/// Three processes claim 300 ready runs at once, a few at a time: every
/// run is claimed exactly once (`FOR UPDATE SKIP LOCKED`).
#[test]
fn processes_claiming_at_once_take_every_run_once() {
    let j = pg("claims_at_once");
    for i in 0..300 {
        j.new_run(&format!("run{i:03}"));
    }
    let ttl = Duration::from_secs(60);
    let threads: Vec<_> = (0..3)
        .map(|p| {
            let other = second(&j);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let claimed = other.claim_ready(&format!("i-{p}"), ttl, 7, &[]).unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed);
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let mine = t.join().unwrap();
        assert!(mine.iter().all(|f| f.generation == 1), "first claims");
        all.extend(mine.into_iter().map(|f| f.run_id));
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (300, 300));
    assert!(j.claim_ready("i-late", ttl, 10, &[]).unwrap().is_empty());
}

/// A process whose lease expired (paused, cut off) and was taken over by
/// another process on the database's clock cannot write into the run any
/// more, though it still believes it owns it.
#[test]
fn a_takeover_by_another_process_refuses_the_first_owners_writes() {
    let j = pg("takeover");
    j.new_run("r");
    let a = j
        .claim("r", "i-a", Duration::from_millis(300), None)
        .unwrap()
        .unwrap();
    j.append(&a, completed(0, "a0"), Durability::Commit)
        .wait_blocking()
        .unwrap();
    let b_journal = second(&j);
    let skip = vec!["other".to_string()];
    assert!(
        b_journal
            .claim_ready("i-b", Duration::from_secs(60), 5, &skip)
            .unwrap()
            .is_empty(),
        "a live lease is not taken"
    );
    std::thread::sleep(Duration::from_millis(400));
    let b = b_journal
        .claim_ready("i-b", Duration::from_secs(60), 5, &skip)
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].generation, a.generation + 1);
    let late = j
        .append(&a, completed(1, "a1"), Durability::Commit)
        .wait_blocking()
        .unwrap_err();
    assert!(matches!(late, JournalError::LeaseLost { .. }), "{late}");
    assert!(j.renew_leases("i-a", Duration::from_secs(60)).unwrap() == 0);
    b_journal
        .append(&b[0], completed(1, "b1"), Durability::Commit)
        .wait_blocking()
        .unwrap();
    let responses: Vec<String> = j
        .entries("r")
        .unwrap()
        .into_iter()
        .filter_map(|e| e.response)
        .collect();
    assert_eq!(responses, vec!["a0".to_string(), "b1".to_string()]);
}

fn next_event(
    rx: &mut tokio::sync::broadcast::Receiver<JournalEvent>,
    want: impl Fn(&JournalEvent) -> bool,
) -> JournalEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match rx.try_recv() {
            Ok(event) if want(&event) => return event,
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no such event within 10 s");
}

/// A commit in one process wakes the others; a cancel asked of one
/// process reaches the others.
#[test]
fn commits_wake_other_processes_and_cancel_requests_reach_them() {
    let j = pg("notify");
    let other = second(&j);
    let mut events = other.events().expect("PostgreSQL announces changes");
    j.new_run("r1");
    next_event(
        &mut events,
        |e| matches!(e, JournalEvent::Changed { runs, ready: true } if runs == &["r1".to_string()]),
    );
    let f = j
        .claim("r1", "i-a", Duration::from_secs(60), None)
        .unwrap()
        .unwrap();
    j.append(&f, completed(0, "x"), Durability::Lazy)
        .wait_blocking()
        .unwrap();
    next_event(
        &mut events,
        |e| matches!(e, JournalEvent::Changed { runs, ready: false } if runs == &["r1".to_string()]),
    );
    assert!(j.request_cancel("r1", Some("enough")).unwrap());
    let got = next_event(&mut events, |e| {
        matches!(e, JournalEvent::CancelRequested { .. })
    });
    assert_eq!(
        got,
        JournalEvent::CancelRequested {
            run_id: "r1".into(),
            reason: Some("enough".into())
        }
    );
}

/// The server ends every session of the journal (a restart, a failover, a
/// timeout): the writer, readers and listener connect again.
#[test]
fn sessions_ended_by_the_server_are_opened_again() {
    let schema = pg("reconnect");
    // Its own application name: only its sessions are ended (other tests
    // share the server).
    let named = format!("{}&application_name=relive_reconnect", url(&schema));
    let j = PgJournal::open(&named, SyncPolicy::Critical, false).unwrap();
    schema.new_run("r");
    let mut events = j.events().unwrap();
    let killed = schema.scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE application_name = 'relive_reconnect'",
    );
    assert!(killed >= 3, "writer, control and listener: {killed}");
    // The first write may meet the dead session (and then its run's later
    // writes fail too); the writes after it land.
    let _ = j
        .append(&fence("r"), completed(0, "lost?"), Durability::Commit)
        .wait_blocking();
    let _ = j.find_run("r");
    let _ = j.claim("r", "i-a", Duration::from_secs(5), None);
    schema.new_run("r2");
    j.append(&fence("r2"), completed(0, "y"), Durability::Commit)
        .wait_blocking()
        .unwrap();
    assert_eq!(j.entries("r2").unwrap().len(), 1);
    assert!(
        j.claim("r2", "i-a", Duration::from_secs(5), None)
            .unwrap()
            .is_some()
    );
    next_event(&mut events, |e| *e == JournalEvent::Resync);
    j.health().unwrap();
}
