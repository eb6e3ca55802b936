//! SIGKILL of relive during an MCP tool call: the stdio server goes with
//! it, and `relive resume` re-runs the call when the tool's annotations
//! say it is idempotent, or stops for an operator when they do not.

use crate::common::*;
use crate::support::*;
use relive::journal::{EntryKind, EntryState, RunStatus};
use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Starts the researcher calling server-everything's long operation (3 s),
/// SIGKILLs relive while the call is in flight, and checks that the
/// server's processes are gone too. Returns the run's id.
fn kill_during_the_long_call(scratch: &Scratch, mark: &str) -> String {
    let mut child = scratch
        .relive()
        .args(["run", "researcher", "--input", "go", "--quiet"])
        .env(MARK, mark)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    let run = loop {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "the long call never started"
        );
        std::thread::sleep(Duration::from_millis(50));
        let query = relive::journal::RunQuery {
            limit: 1,
            ..Default::default()
        };
        let Ok(runs) = scratch.journal().runs(&query) else {
            continue;
        };
        let Some(run) = runs.first() else { continue };
        let in_flight = scratch
            .entries(&run.id)
            .iter()
            .any(|e| e.kind == EntryKind::Tool && e.state == EntryState::Started);
        if in_flight {
            break run.id.clone();
        }
    };
    std::thread::sleep(Duration::from_millis(300)); // the server is working
    assert!(!marked(mark).is_empty(), "the server should be running");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Its stdin closed, the server ends (it is not left behind).
    wait_none_marked(mark, Duration::from_secs(10));
    run
}

fn long_call_scratch(dir: &std::path::Path, overrides: &str) -> Scratch {
    let config = format!(
        "[tools.every]\nmcp = {{ command = [\"{}\", \"stdio\"], env = {{ {MARK} = \"{MARK}\" }} }}\nallow = [\"trigger-long-running-operation\"]\n{overrides}",
        everything(dir)
    );
    let call = (
        "every__trigger-long-running-operation",
        json!({"duration": 3, "steps": 3}),
    );
    researcher(&config, &["every"], script(&[&[call]]))
}

/// Issue 17: the long operation is read-only (its annotations say so): the
/// resume runs it again, to the end, and the run completes.
#[test]
fn sigkill_during_an_mcp_call_then_resume_runs_it_again() {
    let Some(dir) = servers() else { return };
    let scratch = long_call_scratch(&dir, "");
    let mark = new_mark();
    let run = kill_during_the_long_call(&scratch, &mark);
    let out = scratch
        .relive()
        .args(["resume", &run, "--json"])
        .env(MARK, &mark)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let answer = tool_answer(&scratch, &run, "every__trigger-long-running-operation").unwrap();
    assert!(
        answer.contains("Long running operation completed"),
        "{answer}"
    );
    let tools: Vec<_> = scratch
        .entries(&run)
        .into_iter()
        .filter(|e| e.kind == EntryKind::Tool)
        .collect();
    assert_eq!(tools.len(), 1, "one call, re-run in place");
    wait_none_marked(&mark, Duration::from_secs(10));
}

/// Issue 17: the operator overrules the annotations (not idempotent): the
/// resume stops with the run uncertain, naming the call; `resolve --retry`
/// then runs it.
#[test]
fn sigkill_during_a_non_idempotent_mcp_call_makes_the_run_uncertain() {
    let Some(dir) = servers() else { return };
    let overrides =
        "\n[tools.every.overrides.trigger-long-running-operation]\nidempotent = false\n";
    let scratch = long_call_scratch(&dir, overrides);
    let mark = new_mark();
    let run = kill_during_the_long_call(&scratch, &mark);
    let out = scratch
        .relive()
        .args(["resume", &run])
        .env(MARK, &mark)
        .output()
        .unwrap();
    assert_code(&out, 5);
    assert!(
        stderr(&out).contains("every__trigger-long-running-operation"),
        "{}",
        stderr(&out)
    );
    assert_eq!(scratch.run_record(&run).status, RunStatus::Uncertain);
    assert_code(&scratch.run(&["resolve", &run, "--retry"]), 0);
    let out = scratch
        .relive()
        .args(["resume", &run])
        .env(MARK, &mark)
        .output()
        .unwrap();
    assert_code(&out, 0);
    wait_none_marked(&mark, Duration::from_secs(10));
}
