//! Tests of the journal's transactions that issue 12 made whole: answers
//! and status in one write, fencing, the writer's health, imports, prune —
//! on both backends (see `backends.rs`).

use super::backends::both;
use super::*;

fn completed(seq: u64, response: &str) -> Entry {
    let mut e = Entry::new(seq, EntryKind::Clock, "wall", "null".into());
    e.response = Some(response.into());
    e.state = EntryState::Completed;
    e
}

/// A run of component `sha256:c` to import, created at `created_at_ms`.
fn imported(id: &str, status: RunStatus, created_at_ms: i64) -> RunRecord {
    RunRecord {
        id: id.into(),
        agent: "x".into(),
        component_digest: "sha256:c".into(),
        input: String::new(),
        status,
        output: None,
        error: None,
        config_path: None,
        created_at_ms,
        updated_at_ms: created_at_ms,
        policy: None,
        parent: None,
    }
}

both!(
/// Issue 12.2: an answer that lands between the run's wait entry and its
/// `suspended` status is not lost: the run is ready to go on. (On the main
/// of 2026-12-03 the status write cleared `ready_at`: the run stayed
/// suspended with an answered wait.)
fn an_answer_before_the_suspended_status_keeps_the_run_ready(j) {
    j.new_run("r1");
    let wait = Entry::new(0, EntryKind::Signal, "go", r#"{"name":"go"}"#.into());
    j.append(&fence("r1"), wait, Durability::Sync)
        .wait_blocking()
        .unwrap();
    // The operator's answer, as `relive signal` gives it...
    j.answer("r1", 0, EntryKind::Signal, r#"{"payload":"1"}"#.into())
        .wait_blocking()
        .unwrap();
    // ...then the executing process records that the run suspended.
    let suspended = StatusChange::Suspended {
        seq: 0,
        until_ms: None,
        children: Vec::new(),
    };
    j.set_status(&fence("r1"), suspended, Durability::Sync)
        .wait_blocking()
        .unwrap();
    let ready = j.ready_runs(10).unwrap();
    assert_eq!(ready.len(), 1, "the answered run must be ready: {ready:?}");
    // A second answer is refused, and says why.
    let again = j
        .answer("r1", 0, EntryKind::Signal, r#"{"payload":"2"}"#.into())
        .wait_blocking()
        .unwrap_err()
        .to_string();
    assert!(again.contains("already answered"), "{again}");
});

both!(
/// Issue 12.3: every claim yields a new generation; a write carrying an
/// older one is refused, so a process that lost its lease cannot write
/// into a run another process owns now.
fn writes_of_a_stale_claim_are_refused(j) {
    j.new_run("r");
    let short = std::time::Duration::from_millis(1);
    let first = j.claim("r", "i-a", short, None).unwrap().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Expired: another process takes it over.
    let second = j
        .claim("r", "i-b", std::time::Duration::from_secs(60), None)
        .unwrap()
        .unwrap();
    assert_eq!(second.generation, first.generation + 1);
    let late = j
        .append(&first, completed(0, "late"), Durability::Commit)
        .wait_blocking()
        .unwrap_err();
    assert!(
        matches!(late, JournalError::LeaseLost { held, current, .. } if held == first.generation && current == second.generation),
        "{late}"
    );
    let end = StatusChange::Ended {
        status: RunStatus::Completed,
        output: Some("stale".into()),
        error: None,
    };
    assert!(
        j.set_status(&first, end, Durability::Sync)
            .wait_blocking()
            .is_err()
    );
    // The owner's writes land; the stale process left no trace.
    j.append(&second, completed(0, "mine"), Durability::Commit)
        .wait_blocking()
        .unwrap();
    let entries = j.entries("r").unwrap();
    assert_eq!(entries[0].response.as_deref(), Some("mine"));
    assert_eq!(j.find_run("r").unwrap().status, RunStatus::Running);
    // A live lease is not taken; a cancel bumps the generation too.
    assert!(
        j.claim("r", "i-c", short, None).unwrap().is_none(),
        "a live lease is not taken"
    );
    let refused = j
        .cancel("r", "stop".into(), None)
        .wait_blocking()
        .unwrap_err();
    assert!(
        refused.to_string().contains("another relive process"),
        "{refused}"
    );
    j.cancel("r", "stop".into(), Some("i-b"))
        .wait_blocking()
        .unwrap();
    assert!(
        j.append(&second, completed(1, "after"), Durability::Commit)
            .wait_blocking()
            .is_err(),
        "the executor's writes after a cancel are refused"
    );
    assert!(
        j.claim("r", "i-b", short, None).unwrap().is_none(),
        "a cancelled run cannot be claimed (resumed)"
    );
});

both!(
/// Issue 12.10: `health` fails once the writer thread is gone.
fn health_fails_when_the_writer_died(j) {
    j.health().unwrap();
    j.kill_writer();
    let err = j.health().unwrap_err();
    assert!(matches!(err, JournalError::WriterGone), "{err}");
    assert!(
        j.put_component("sha256:x", b"x").wait_blocking().is_err(),
        "writes fail at once"
    );
});

both!(
/// Issue 12.12: an imported unfinished run is ready, so `relive serve`
/// picks it up.
fn an_imported_unfinished_run_is_ready(j) {
    j.put_component("sha256:c", b"bytes")
        .wait_blocking()
        .unwrap();
    for (id, status) in [("a", RunStatus::Suspended), ("b", RunStatus::Completed)] {
        j.import_run(imported(id, status, 1), vec![completed(0, "1")])
            .wait_blocking()
            .unwrap();
    }
    let ready: Vec<String> = j
        .ready_runs(10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ready, vec!["a".to_string()]);
});

both!(
/// Issue 12.9: prune deletes old finished runs and what only they used,
/// never an unfinished run without `force`, and keeps shared blobs.
fn prune_deletes_old_runs_and_unreferenced_blobs_only(j) {
    let conversation = |extra: &str| {
        let messages: Vec<serde_json::Value> = (0..4)
            .map(|i| serde_json::json!({"role": "user", "content": format!("{i}{extra}: {}", "x".repeat(900))}))
            .collect();
        serde_json::json!({ "messages": messages }).to_string()
    };
    for id in ["old-done", "old-running", "new-done"] {
        j.new_run(id);
        let mut e = Entry::new(0, EntryKind::Llm, "m", conversation("shared"));
        e.response = Some(conversation(id));
        e.state = EntryState::Completed;
        j.append(&fence(id), e, Durability::Commit)
            .wait_blocking()
            .unwrap();
    }
    let done = |id: &str| {
        let end = StatusChange::Ended {
            status: RunStatus::Completed,
            output: Some("ok".into()),
            error: None,
        };
        j.set_status(&fence(id), end, Durability::Sync)
            .wait_blocking()
            .unwrap();
    };
    done("old-done");
    std::thread::sleep(std::time::Duration::from_millis(30));
    let cutoff = now_ms();
    std::thread::sleep(std::time::Duration::from_millis(30));
    done("new-done");
    let finished: Vec<RunStatus> = RunStatus::ALL
        .into_iter()
        .filter(|s| s.is_final())
        .collect();
    let request = PruneRequest {
        updated_before_ms: cutoff,
        statuses: RunStatus::ALL.to_vec(),
        force: false,
        dry_run: true,
    };
    let preview = j.prune(&request).unwrap();
    assert_eq!((preview.runs, preview.blobs), (1, 4), "{preview:?}");
    assert_eq!(j.find_run("old-done").unwrap().status, RunStatus::Completed);
    let report = j
        .prune(&PruneRequest {
            dry_run: false,
            statuses: finished,
            ..request.clone()
        })
        .unwrap();
    assert_eq!(
        (report.runs, report.entries, report.blobs),
        (1, 1, 4),
        "{report:?}"
    );
    assert!(j.find_run("old-done").is_err());
    assert_eq!(
        j.find_run("old-running").unwrap().status,
        RunStatus::Running
    );
    // The shared request blobs are still there: the others read whole.
    assert_eq!(
        j.entries("old-running").unwrap()[0].request,
        conversation("shared")
    );
    assert_eq!(
        j.entries("new-done").unwrap()[0].response.as_deref(),
        Some(conversation("new-done").as_str())
    );
    // With force, the old running run goes too.
    let forced = j
        .prune(&PruneRequest {
            force: true,
            dry_run: false,
            ..request
        })
        .unwrap();
    assert_eq!(forced.runs, 1);
    assert!(j.find_run("old-running").is_err());
});

both!(
/// Issue 12.5: runs are listed a page at a time, newest first: following
/// the cursor (`before`, the last id of a page) visits every run once, also
/// among runs created in the same millisecond, and a filter holds across
/// pages.
fn listing_runs_pages_through_every_run_once(j) {
    j.put_component("sha256:c", b"bytes")
        .wait_blocking()
        .unwrap();
    // 23 runs over 8 milliseconds (three share each), every third failed.
    let mut expected = Vec::new();
    for i in 0..23u64 {
        let status = if i % 3 == 0 {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        };
        let run = imported(&format!("run{i:02}"), status, 1_000 + (i / 3) as i64);
        expected.push((run.created_at_ms, run.id.clone(), status));
        j.import_run(run, vec![completed(0, "1")])
            .wait_blocking()
            .unwrap();
    }
    expected.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let pages = |status: Option<RunStatus>, limit: usize| {
        let mut seen = Vec::new();
        let mut query = RunQuery {
            status,
            limit,
            ..RunQuery::default()
        };
        loop {
            let page = j.runs(&query).unwrap();
            assert!(page.len() <= limit, "a page of {} runs", page.len());
            seen.extend(page.iter().map(|r| r.id.clone()));
            if page.len() < limit {
                return seen;
            }
            query.before = page.last().map(|r| r.id.clone());
        }
    };
    let newest_first: Vec<String> = expected.iter().map(|e| e.1.clone()).collect();
    for limit in [1, 2, 3, 7, 23, 50] {
        assert_eq!(pages(None, limit), newest_first, "pages of {limit}");
    }
    let failed: Vec<String> = expected
        .iter()
        .filter(|e| e.2 == RunStatus::Failed)
        .map(|e| e.1.clone())
        .collect();
    assert_eq!(failed.len(), 8);
    assert_eq!(pages(Some(RunStatus::Failed), 3), failed);
    let all: Vec<String> = all_runs(&*j, None)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, newest_first);
});
