//! The kill test: the real `relive` binary running `stepper` is killed with
//! SIGKILL at many points, then `relive resume` finishes the run. Each time:
//! every entry journaled before the kill is unchanged after the resume, the
//! final output is what a replay of the final journal produces, and the
//! tool's counter file shows that every tool call completed before the kill
//! ran exactly once.

use crate::support::*;
use relive::journal::{EntryKind, EntryState, RunStatus};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const STEPS: &str = "40";

pub(crate) enum KillAt {
    /// Right after the run is created, before or around its first call.
    Start,
    /// While the tool call of this step runs (the tool hangs).
    DuringTool(u64),
    /// After this many tool calls were reported complete.
    AfterTools(usize),
}

/// SIGKILL to a process our run started (the hung tool, named by its PID
/// file), through the shell's `kill` builtin.
fn sigkill(pid: u32) {
    let _ = std::process::Command::new("sh")
        .args(["-c", &format!("kill -9 {pid} 2>/dev/null")])
        .status();
}

fn spawn_run(scratch: &Scratch, hang_at: Option<u64>) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = scratch.relive();
    cmd.arg("run")
        .arg(guest("stepper"))
        .args(["--input", STEPS])
        .env("TALLY_HANG_MARKER", scratch.file("hang.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(step) = hang_at {
        cmd.env("TALLY_HANG_AT", step.to_string());
    }
    let mut child = cmd.spawn().expect("relive starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a line matching `pred`; panics with what was seen otherwise.
fn wait_for_line(rx: &mpsc::Receiver<String>, mut pred: impl FnMut(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let hit = pred(&line);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!(
        "the expected progress line never came; saw:\n{}",
        seen.join("\n")
    );
}

/// Kills the run at `at` and returns the run id.
pub(crate) fn kill_run(scratch: &Scratch, at: &KillAt) -> String {
    let hang = match at {
        KillAt::DuringTool(step) => Some(*step),
        _ => None,
    };
    let (mut child, rx) = spawn_run(scratch, hang);
    match at {
        KillAt::Start => wait_for_line(&rx, |l| l.contains("started (agent")),
        KillAt::AfterTools(n) => {
            let mut count = 0;
            wait_for_line(&rx, |l| {
                if l.contains(" tool ") && l.contains("tally") {
                    count += 1;
                }
                count >= *n
            })
        }
        KillAt::DuringTool(_) => {
            let marker = scratch.file("hang.pid");
            let deadline = Instant::now() + Duration::from_secs(60);
            while !marker.exists() {
                assert!(
                    Instant::now() < deadline,
                    "the tool never reached its hang step"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "relive should have been killed");
    if let Ok(text) = std::fs::read_to_string(scratch.file("hang.pid")) {
        for pid in text.split_whitespace().filter_map(|p| p.parse().ok()) {
            sigkill(pid);
        }
        // A later kill in the same folder waits for its own marker.
        let _ = std::fs::remove_file(scratch.file("hang.pid"));
    }
    // Runs are listed newest first: the first is the one just killed.
    let runs = relive::journal::all_runs(&*scratch.journal(), None).unwrap();
    assert_eq!(
        runs[0].status,
        RunStatus::Running,
        "a killed run stays `running`"
    );
    runs[0].id.clone()
}

/// How often each idempotency key appears in the tool's counter file.
fn tally_counts(scratch: &Scratch) -> HashMap<String, usize> {
    first_word_counts(&scratch.file("tally.log"))
}

fn kill_and_resume(at: KillAt) {
    kill_and_resume_in(Scratch::example("stepper"), at);
}

/// Runs the stepper in `scratch` (a copy of examples/stepper), kills it at
/// `at`, resumes it and checks what the kill test checks.
pub(crate) fn kill_and_resume_in(scratch: Scratch, at: KillAt) {
    let id = kill_run(&scratch, &at);
    let before = scratch.entries(&id);
    let counts_before = tally_counts(&scratch);

    let out = scratch.run(&["resume", &id, "--json"]);
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["status"], "completed", "{report}");
    let output = report["output"].as_str().unwrap().to_string();
    assert!(
        output.starts_with(&format!("steps={STEPS} digest=")),
        "{output}"
    );

    // 1. Every entry journaled before the kill is unchanged.
    let after = scratch.entries(&id);
    assert!(after.len() >= before.len());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            (old.kind, &old.name, &old.request),
            (new.kind, &new.name, &new.request),
            "entry #{}",
            old.seq
        );
        match old.state {
            EntryState::Completed => assert_eq!(
                old.response, new.response,
                "entry #{} changed its answer",
                old.seq
            ),
            EntryState::Started => {
                assert_eq!(new.state, EntryState::Completed, "entry #{}", old.seq)
            }
        }
    }
    assert!(after.iter().all(|e| e.state == EntryState::Completed));

    // 2. The output is what a replay of the final journal produces.
    let replay = export_and_replay(&scratch, &id, &guest("stepper"));
    assert_eq!(replay["passed"], true, "{replay}");
    assert_eq!(
        scratch.run_record(&id).output.as_deref(),
        Some(output.as_str())
    );

    // 3. Tool calls completed before the kill ran exactly once; every other
    //    recorded call ran at least once, and nothing ran that is not
    //    recorded.
    let counts = tally_counts(&scratch);
    let key = |seq: u64| format!("relive-{id}-{seq}");
    for e in before
        .iter()
        .filter(|e| e.kind == EntryKind::Tool && e.state == EntryState::Completed)
    {
        assert_eq!(
            counts.get(&key(e.seq)),
            Some(&1),
            "tool call #{} ran again after the resume",
            e.seq
        );
    }
    let tool_seqs: Vec<u64> = after
        .iter()
        .filter(|e| e.kind == EntryKind::Tool)
        .map(|e| e.seq)
        .collect();
    assert_eq!(tool_seqs.len(), 40);
    for seq in &tool_seqs {
        let n = counts.get(&key(*seq)).copied().unwrap_or(0);
        assert!((1..=2).contains(&n), "tool call #{seq} ran {n} times");
        if n == 2 {
            // Only a call interrupted by the kill may run twice.
            assert!(counts_before.contains_key(&key(*seq)));
            assert!(
                before
                    .iter()
                    .any(|e| e.seq == *seq && e.state == EntryState::Started)
            );
        }
    }
    assert_eq!(
        counts.len(),
        40,
        "the tool ran for a call the journal does not hold: {counts:?}"
    );
}

#[test]
fn kill_at_start_then_resume() {
    kill_and_resume(KillAt::Start);
}

#[test]
fn kill_during_first_tool_call_then_resume() {
    kill_and_resume(KillAt::DuringTool(1));
}

#[test]
fn kill_after_five_tool_calls_then_resume() {
    kill_and_resume(KillAt::AfterTools(5));
}

#[test]
fn kill_during_tool_call_of_step_17_then_resume() {
    kill_and_resume(KillAt::DuringTool(17));
}

#[test]
fn kill_after_23_tool_calls_then_resume() {
    kill_and_resume(KillAt::AfterTools(23));
}

#[test]
fn kill_during_last_tool_call_then_resume() {
    kill_and_resume(KillAt::DuringTool(40));
}

/// The stepper with its tool declared non-idempotent: a call interrupted by
/// a crash makes the run `uncertain` until an operator decides.
fn uncertain_run() -> (Scratch, String, u64) {
    let scratch = Scratch::example("stepper");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    assert!(config.contains("idempotent = true"));
    std::fs::write(
        scratch.file("relive.toml"),
        config.replace("idempotent = true", "idempotent = false"),
    )
    .unwrap();
    let id = kill_run(&scratch, &KillAt::DuringTool(2));
    let out = scratch.run(&["resume", &id, "--json"]);
    assert_code(&out, 5);
    let report = json(&out);
    assert_eq!(report["status"], "uncertain");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("not idempotent") && error.contains(&format!("relive resolve {id} --retry")),
        "{error}"
    );
    let seq = scratch.entries(&id).last().unwrap().seq;
    // Asking again without a decision keeps refusing, naming the fix, with
    // the same exit code (issue 12.10: it was 1 the second time).
    let again = scratch.run(&["resume", &id]);
    assert_code(&again, 5);
    assert!(
        stderr(&again).contains("relive resolve"),
        "{}",
        stderr(&again)
    );
    (scratch, id, seq)
}

#[test]
fn uncertain_call_retried_by_operator() {
    let (scratch, id, seq) = uncertain_run();
    assert_code(&scratch.run(&["resolve", &id, "--retry"]), 0);
    let out = scratch.run(&["resume", &id, "--json"]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["status"], "completed");
    let counts = tally_counts(&scratch);
    assert_eq!(
        counts[&format!("relive-{id}-{seq}")],
        2,
        "the operator asked for a retry"
    );
    let entry = &scratch.entries(&id)[seq as usize];
    assert!(matches!(
        entry.resolution,
        Some(relive::journal::Resolution::Retry { .. })
    ));
    // A second decision is refused.
    let twice = scratch.run(&["resolve", &id, "--fail"]);
    assert_code(&twice, 1);
    assert!(
        stderr(&twice).contains("not uncertain"),
        "{}",
        stderr(&twice)
    );
}

#[test]
fn uncertain_call_given_a_result_by_operator() {
    let (scratch, id, seq) = uncertain_run();
    assert_code(
        &scratch.run(&["resolve", &id, "--result", r#"{"step": 2, "ok": true}"#]),
        0,
    );
    let out = scratch.run(&["resume", &id, "--json"]);
    assert_code(&out, 0);
    let counts = tally_counts(&scratch);
    assert_eq!(
        counts[&format!("relive-{id}-{seq}")],
        1,
        "the supplied result must not run the tool"
    );
    let entry = &scratch.entries(&id)[seq as usize];
    assert!(
        entry
            .response
            .as_deref()
            .unwrap()
            .contains(r#"{\"step\": 2, \"ok\": true}"#)
    );
    assert_eq!(
        export_and_replay(&scratch, &id, &guest("stepper"))["passed"],
        true
    );
}

#[test]
fn uncertain_call_failed_by_operator() {
    let (scratch, id, _) = uncertain_run();
    assert_code(
        &scratch.run(&["resolve", &id, "--fail", "--reason", "double charge risk"]),
        0,
    );
    let record = scratch.run_record(&id);
    assert_eq!(record.status, RunStatus::Failed);
    assert!(record.error.unwrap().contains("double charge risk"));
    let out = scratch.run(&["resume", &id]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("cannot be resumed"),
        "{}",
        stderr(&out)
    );
}

/// A kill in the middle of a burst of journal writes: every entry a reader
/// saw committed before the kill is still there, unchanged, and SQLite
/// recovers the file (integrity_check passes).
#[test]
fn kill_during_write_burst_loses_no_committed_entry() {
    let scratch = Scratch::example("stepper");
    let mut child = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "100000", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen: Vec<(i64, String, Option<String>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 150 {
        assert!(Instant::now() < deadline, "the run never wrote 150 entries");
        std::thread::sleep(Duration::from_millis(25));
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            scratch.db(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            continue;
        };
        let rows = conn
            .prepare("SELECT seq, request_digest, response FROM entries ORDER BY seq")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<Vec<_>, _>>()
            });
        if let Ok(rows) = rows {
            seen = rows;
        }
    }
    child.kill().unwrap(); // SIGKILL mid-burst
    child.wait().unwrap();
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let id = relive::journal::all_runs(&*scratch.journal(), None).unwrap()[0]
        .id
        .clone();
    let after = scratch.entries(&id);
    assert!(
        after.len() >= seen.len(),
        "{} entries after the kill, {} seen before",
        after.len(),
        seen.len()
    );
    for (seq, digest, response) in &seen {
        let e = &after[*seq as usize];
        assert_eq!(&e.request_digest, digest, "entry #{seq}");
        if response.is_some() {
            assert_eq!(&e.response, response, "entry #{seq}");
        }
    }
}
