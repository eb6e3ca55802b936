//! The PostgreSQL journal end to end: the real `relive` binary with
//! `--db postgres://…` (through `RELIVE_DB`), against a throw-away cluster
//! started by this test process (one schema per test).
//!
//! - `relive run` killed with SIGKILL, then `relive resume`: what the kill
//!   test (kill.rs) checks on SQLite holds on PostgreSQL.
//! - Two `relive serve` processes on one database: an approval sent to
//!   either reaches the run wherever it waits; a run's events are followed
//!   from the process that does not execute it; a cancel sent to the
//!   process that does not execute a run stops it where it runs.
//!
//! - A run that used the `files` tool and moves to a host whose workspace
//!   root does not hold its workspace fails its next files call with an
//!   error naming the directory and the fix, instead of going on with an
//!   empty workspace; on a root every host shares, it finds its files.
//!
//! The load test with three services, SIGKILL and SIGSTOP is in
//! postgres_load.rs.

use crate::kill::{KillAt, kill_and_resume_in};
use crate::serve::{Served, example, get, http, is_final, post, sse_events_timed, wait_run};
use crate::support::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn a_run_killed_after_five_tool_calls_resumes_on_postgres() {
    kill_and_resume_in(
        Scratch::example("stepper").on_postgres("kill_after_tools"),
        KillAt::AfterTools(5),
    );
}

#[test]
fn a_run_killed_during_a_tool_call_resumes_on_postgres() {
    kill_and_resume_in(
        Scratch::example("stepper").on_postgres("kill_during_tool"),
        KillAt::DuringTool(17),
    );
}

/// The pid of the process that executes `run` now (by its lease), if any.
fn executor(scratch: &Scratch, run: &str) -> Option<u32> {
    let journal = scratch.journal();
    let lease = journal.lease(run).unwrap()?;
    Some(journal.instance(&lease.owner).unwrap()?.pid)
}

#[test]
fn an_approval_sent_to_either_service_reaches_the_run() {
    let scratch = example("approver").on_postgres("approval");
    let outbox = scratch.file("outbox.log");
    let env = [("OUTBOX", outbox.to_str().unwrap())];
    let a = Served::start(&scratch, &[], &env);
    let b = Served::start(&scratch, &[], &env);
    for (create, answer) in [(&a, &b), (&b, &a)] {
        let run = post(
            create,
            "/v1/runs",
            json!({ "agent": "approver", "input": "deploy done" }),
        );
        let id = run["id"].as_str().unwrap().to_string();
        let run = wait_run(answer, &id, Duration::from_secs(30), |r| {
            r["status"] == "suspended"
        });
        assert_eq!(run["waiting"]["kind"], "approval", "{run}");
        post(
            answer,
            &format!("/v1/runs/{id}/approve"),
            json!({ "note": "fine", "by": "test" }),
        );
        let run = wait_run(create, &id, Duration::from_secs(30), is_final);
        assert_eq!(run["status"], "completed", "{run}");
    }
    assert_eq!(read_lines(&outbox), 2, "each run sent its message once");
}

fn read_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

/// A long stepper run on one of two services: its events are followed from
/// the other, entry by entry, as they are committed (woken by the other
/// process's commits, not by polling the journal every second).
#[test]
fn a_runs_events_are_followed_from_the_service_that_does_not_execute_it() {
    let scratch = example("stepper").on_postgres("events_elsewhere");
    let a = Served::start(&scratch, &[], &[]);
    let b = Served::start(&scratch, &[], &[]);
    let run = post(
        &a,
        "/v1/runs",
        json!({ "agent": "stepper", "input": "150" }),
    );
    let id = run["id"].as_str().unwrap().to_string();
    let (runner, other) = loop {
        match executor(&scratch, &id) {
            Some(pid) if pid == a.pid() => break (&a, &b),
            Some(_) => break (&b, &a),
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let url = other.url(&format!("/v1/runs/{id}/events"));
    let events = sse_events_timed(&url, Duration::from_secs(60));
    let names: Vec<&str> = events.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"end"), "{names:?}");
    let journal = scratch.journal();
    let entries = journal.entries(&id).unwrap();
    assert!(runner.log().contains("serving on"));
    let mut delays: Vec<i64> = events
        .iter()
        .filter(|(n, d, _)| n == "entry" && d["state"] == "completed")
        .map(|(_, d, at)| {
            let seq = d["seq"].as_u64().unwrap() as usize;
            at - entries[seq].finished_at_ms.unwrap()
        })
        .collect();
    assert_eq!(
        delays.len(),
        entries.len(),
        "every entry arrived once completed"
    );
    delays.sort();
    let median = delays[delays.len() / 2];
    // Catching up every second (without notifications) gives ~500 ms.
    assert!(
        median < 250,
        "entries reached the other process {median} ms after their commit (median); delays {delays:?}"
    );
}

/// A cancel sent to the service that does not execute a run reaches the
/// one that does: the run stops there and is cancelled.
#[test]
fn a_cancel_sent_to_either_service_stops_the_run_where_it_runs() {
    let scratch = example("stepper").on_postgres("cancel_elsewhere");
    let a = Served::start(&scratch, &[], &[]);
    let b = Served::start(&scratch, &[], &[]);
    let run = post(
        &a,
        "/v1/runs",
        json!({ "agent": "stepper", "input": "100000" }),
    );
    let id = run["id"].as_str().unwrap().to_string();
    wait_run(&a, &id, Duration::from_secs(30), |r| {
        r["entries"].as_u64().unwrap_or(0) > 10
    });
    let pid = executor(&scratch, &id).expect("one of them executes it");
    let (runner, other) = if pid == a.pid() { (&a, &b) } else { (&b, &a) };
    let cancelled = post(
        other,
        &format!("/v1/runs/{id}/cancel"),
        json!({ "reason": "too long" }),
    );
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancelled["error"].as_str().unwrap().contains("too long"));
    let entries = cancelled["entries"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let later = get(runner, &format!("/v1/runs/{id}"));
    assert_eq!(later["status"], "cancelled");
    assert_eq!(
        later["entries"].as_u64().unwrap(),
        entries,
        "the run went on after the cancel"
    );
    assert!(
        runner.log().contains("as another relive process asked"),
        "{}",
        runner.log()
    );
    let (code, _) = http(
        "POST",
        &other.url(&format!("/v1/runs/{id}/cancel")),
        None,
        None,
    );
    assert_eq!(code, 409, "a cancelled run cannot be cancelled again");
}

/// The waiter's `relive.toml`, its `files` tool's workspaces under `root`.
fn files_config(scratch: &Scratch, root: &str) {
    std::fs::write(
        scratch.file("relive.toml"),
        format!("[agents.waiter]\ntools = [\"files\"]\n\n[tools.files]\nbuiltin = \"files\"\nroot = \"{root}\"\n"),
    )
    .unwrap();
}

/// Starts `waiter files go` (one file written, then a wait for `go`) with
/// the workspaces under `root`; returns the run's id.
fn start_files_waiter(scratch: &Scratch, root: &str) -> String {
    files_config(scratch, root);
    let waiter = guest("waiter");
    let out = scratch.run(&[
        "run",
        waiter.to_str().unwrap(),
        "--input",
        "files go",
        "--json",
    ]);
    assert_code(&out, 6);
    let id = json(&out)["id"].as_str().unwrap().to_string();
    assert!(scratch.file(root).join(&id).join("note.txt").is_file());
    assert_code(&scratch.run(&["signal", &id, "go"]), 0);
    id
}

#[test]
fn a_run_that_moves_to_a_host_without_its_workspace_fails_its_files_call() {
    let scratch = Scratch::copy_of("tests/guests/waiter").on_postgres("files_elsewhere");
    // Another host: its root does not hold the run's workspace.
    let id = start_files_waiter(&scratch, "host-a");
    files_config(&scratch, "host-b");
    let out = scratch.run(&["resume", &id, "--json"]);
    let report = json(&out);
    let error = report["error"].as_str().unwrap_or_default();
    let missing = scratch
        .path()
        .join("host-b")
        .canonicalize()
        .unwrap()
        .join(&id);
    assert!(
        error.contains(&format!("workspace {} is missing", missing.display()))
            && error.contains("root")
            && error.contains("every relive serve process shares"),
        "{report}"
    );
    assert!(!missing.exists(), "an empty workspace was made: {report}");

    // A root both hosts share: the run finds its file.
    let id = start_files_waiter(&scratch, "shared");
    let out = scratch.run(&["resume", &id, "--json"]);
    assert_code(&out, 0);
    let output = json(&out)["output"].as_str().unwrap().to_string();
    assert!(output.contains("\"content\":\"kept\""), "{output}");
}
