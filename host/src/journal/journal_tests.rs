//! Tests of the journal's writes, reads and migrations, on both backends
//! (see `backends.rs`): every test here runs on SQLite and on PostgreSQL.

use super::backends::both;
use super::*;

fn completed(seq: u64, response: &str) -> Entry {
    let mut e = Entry::new(seq, EntryKind::Clock, "wall", "null".into());
    e.response = Some(response.into());
    e.state = EntryState::Completed;
    e
}

both!(fn concurrent_writers_are_grouped_and_nothing_is_lost(j) {
    let runs: Vec<String> = (0..8).map(|i| format!("run{i}")).collect();
    for r in &runs {
        j.new_run(r);
    }
    let handles: Vec<_> = runs
        .iter()
        .cloned()
        .map(|run| {
            let j = j.journal.clone();
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
});

both!(fn a_failed_entry_write_poisons_later_writes_of_that_run_only(j) {
    let j = TestJournal::with(j.backend, "poisons", SyncPolicy::EveryEntry);
    j.new_run("a");
    j.new_run("b");
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
});

both!(fn started_entries_complete_once_and_resolutions_are_kept(j) {
    j.new_run("r");
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
});

both!(fn run_prefixes_resolve_uniquely(j) {
    j.new_run("abcd1111");
    j.new_run("abcd2222");
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
});

both!(
/// DESIGN §3: an agent that resends its growing conversation must not grow
/// the journal quadratically.
fn sixty_turn_conversation_grows_the_journal_linearly(j) {
    // A chat request as the LLM import journals it, written out here: the
    // journal knows nothing of the LLM types.
    let message =
        |role: &str, content: String| serde_json::json!({ "role": role, "content": content });
    j.new_run("r");
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
    let stored = j.scalar(
        "SELECT (SELECT sum(length(request)) FROM entries) + (SELECT sum(size) FROM blobs)",
    );
    // Raw requests add up to ~2 MB. Packed: one copy of every message
    // (~70 KB) plus an 82-byte reference per message per turn (~150 KB).
    assert!(raw > 1_900_000, "raw {raw}");
    assert!(stored < 320_000, "stored {stored} bytes for {raw} raw");
    if j.backend == Backend::Sqlite {
        let (location, _dir) = j.close();
        let Location::Sqlite(path) = location else {
            unreachable!()
        };
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
            .unwrap();
        let file = std::fs::metadata(&path).unwrap().len() as usize;
        // Page granularity (overflow pages for the ~5 KB skeletons)
        // dominates the file; it still holds under a third of the raw bytes.
        assert!(
            file < raw / 3,
            "database file is {file} bytes for {raw} bytes of requests"
        );
    }
});

both!(fn processes_opening_a_new_journal_at_once_migrate_it_once(j) {
    let dir = tempfile::tempdir().unwrap();
    let location = super::backends::fresh_location(j.backend, dir.path(), "open_at_once");
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let location = location.clone();
            let options = OpenOptions {
                create: true,
                sync: SyncPolicy::Critical,
            };
            std::thread::spawn(move || open(location, options).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
});

both!(
/// Regression: the service's scheduler asked when the next run is ready
/// and got the ready time of runs it was executing itself, in the past, so
/// it looped without sleeping for as long as any run was active.
fn a_leased_run_is_not_ready_before_its_lease_expires(j) {
    j.new_run("r1");
    assert_eq!(j.next_ready_in().unwrap(), Some(std::time::Duration::ZERO));
    let ttl = std::time::Duration::from_secs(60);
    assert!(j.claim("r1", "i-me", ttl, None).unwrap().is_some());
    let wait = j.next_ready_in().unwrap().unwrap();
    assert!(wait > std::time::Duration::from_secs(58), "{wait:?}");
    assert!(j.ready_runs(10).unwrap().is_empty());
    // Another run, not leased, is ready at once again.
    j.new_run("r2");
    assert_eq!(j.next_ready_in().unwrap(), Some(std::time::Duration::ZERO));
});
