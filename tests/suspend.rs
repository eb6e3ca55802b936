//! Suspension: approvals, durable timers and signals. A waiting run holds
//! no process; answers are journaled; resume carries on; the outbox shows
//! every approved action performed exactly once.

use crate::support::*;
use std::time::{Duration, Instant};

fn approver() -> Scratch {
    Scratch::example("approver")
}

/// Starts the approver; returns the run id of the suspended run.
fn start_approval(scratch: &Scratch) -> String {
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("approver"))
        .args(["--input", "tell ops", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 6);
    let report = json(&out);
    assert_eq!(report["status"], "suspended");
    assert_eq!(report["waiting"]["kind"], "approval");
    assert_eq!(report["waiting"]["name"], "send-message");
    report["id"].as_str().unwrap().to_string()
}

fn outbox(scratch: &Scratch) -> Vec<String> {
    std::fs::read_to_string(scratch.file("outbox.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn resume(scratch: &Scratch, id: &str, extra: &[&str]) -> std::process::Output {
    scratch
        .relive()
        .args(["resume", id, "--json"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn approved_action_is_performed_once() {
    let scratch = approver();
    let id = start_approval(&scratch);
    assert!(
        outbox(&scratch).is_empty(),
        "nothing is sent before the approval"
    );
    // Still waiting: resume says on what and exits 6.
    let waiting = resume(&scratch, &id, &[]);
    assert_code(&waiting, 6);
    assert_eq!(json(&waiting)["waiting"]["name"], "send-message");
    let waiting = scratch.run(&["resume", &id]);
    assert_code(&waiting, 6);
    assert!(
        stderr(&waiting).contains("waiting for approval of `send-message`; approve with"),
        "{}",
        stderr(&waiting)
    );
    let listed = scratch.run(&["runs", "--waiting"]);
    assert!(
        stdout(&listed).contains("waiting for approval of `send-message`"),
        "{}",
        stdout(&listed)
    );

    assert_code(
        &scratch.run(&["approve", &id, "--note", "fine", "--by", "alice"]),
        0,
    );
    let out = resume(&scratch, &id, &[]);
    assert_code(&out, 0);
    assert!(
        json(&out)["output"]
            .as_str()
            .unwrap()
            .starts_with("sent: Hello ops team")
    );
    assert_eq!(outbox(&scratch).len(), 1);
    let entry = scratch
        .entries(&id)
        .into_iter()
        .find(|e| e.kind.as_str() == "approval")
        .unwrap();
    let answer: serde_json::Value =
        serde_json::from_str(entry.response.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            answer["decision"].as_str(),
            answer["by"].as_str(),
            answer["note"].as_str()
        ),
        (Some("approved"), Some("alice"), Some("fine"))
    );
    assert!(answer["at_ms"].as_i64().unwrap() > 0);
    // Resuming again changes nothing.
    assert_code(&resume(&scratch, &id, &[]), 0);
    assert_eq!(outbox(&scratch).len(), 1);
}

#[test]
fn rejected_action_never_happens_and_the_agent_gets_the_reason() {
    let scratch = approver();
    let id = start_approval(&scratch);
    assert_code(
        &scratch.run(&["reject", &id, "--reason", "not during the freeze"]),
        0,
    );
    let out = resume(&scratch, &id, &[]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["output"], "not sent: not during the freeze");
    assert!(outbox(&scratch).is_empty());
}

#[test]
fn approval_with_edited_details_sends_the_edit() {
    let scratch = approver();
    let id = start_approval(&scratch);
    assert_code(
        &scratch.run(&["approve", &id, "--details", "Deploy done."]),
        0,
    );
    let out = resume(&scratch, &id, &[]);
    assert_eq!(json(&out)["output"], "sent: Deploy done.");
    let sent = outbox(&scratch);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("Deploy done."));
}

#[test]
fn second_answer_and_answers_to_runs_not_waiting_are_refused() {
    let scratch = approver();
    let id = start_approval(&scratch);
    assert_code(&scratch.run(&["approve", &id]), 0);
    let twice = scratch.run(&["reject", &id, "--reason", "changed my mind"]);
    assert_code(&twice, 1);
    assert!(
        stderr(&twice).contains("already answered (approved by"),
        "{}",
        stderr(&twice)
    );
    assert_code(&resume(&scratch, &id, &[]), 0);
    let done = scratch.run(&["approve", &id]);
    assert_code(&done, 1);
    assert!(
        stderr(&done).contains("is not waiting for an approval (it is completed)"),
        "{}",
        stderr(&done)
    );
    let wrong = scratch.run(&["signal", &id, "go"]);
    assert_code(&wrong, 1);
    assert_eq!(outbox(&scratch).len(), 1);
}

#[test]
fn host_killed_while_waiting_then_approved_with_no_host_then_resumed() {
    let scratch = approver();
    let mut child = scratch
        .relive()
        .arg("run")
        .arg(guest("approver"))
        .args(["--input", "tell ops", "-q"])
        .spawn()
        .unwrap();
    // Kill the host as soon as the approval entry is durable (it may have
    // suspended and exited already: then no host runs either way).
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        assert!(
            Instant::now() < deadline,
            "the run never asked for approval"
        );
        std::thread::sleep(Duration::from_millis(5));
        if !scratch.db().exists() {
            continue;
        }
        let Ok(runs) = relive::journal::all_runs(&*scratch.journal(), None) else {
            continue;
        };
        let Some(run) = runs.first() else { continue };
        if scratch
            .entries(&run.id)
            .iter()
            .any(|e| e.kind.as_str() == "approval")
        {
            break run.id.clone();
        }
    };
    let _ = child.kill();
    child.wait().unwrap();
    assert_code(&scratch.run(&["approve", &id]), 0);
    let out = resume(&scratch, &id, &[]);
    assert_code(&out, 0);
    assert_eq!(outbox(&scratch).len(), 1);
}

fn waiter() -> Scratch {
    Scratch::copy_of("tests/guests/waiter")
}

fn start_waiter(scratch: &Scratch, input: &str) -> (String, serde_json::Value) {
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("waiter"))
        .args(["--input", input, "--json"])
        .output()
        .unwrap();
    assert_code(&out, 6);
    let report = json(&out);
    (
        report["id"].as_str().unwrap().to_string(),
        report["waiting"].clone(),
    )
}

#[test]
fn timer_resumed_before_its_wake_time_waits_until_due() {
    let scratch = waiter();
    let (id, waiting) = start_waiter(&scratch, "sleep 1500");
    assert_eq!(waiting["kind"], "timer");
    let until = waiting["until_ms"].as_i64().unwrap();
    let show = scratch.run(&["show", &id]);
    assert!(
        stdout(&show).contains("waiting for: timer until"),
        "{}",
        stdout(&show)
    );
    let begun = Instant::now();
    let out = resume(&scratch, &id, &[]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["output"], "slept");
    let woke = relive::journal::now_ms();
    assert!(woke >= until, "resumed before the wake time");
    assert!(
        begun.elapsed() >= Duration::from_millis(500),
        "resume did not wait"
    );
    let timer = scratch
        .entries(&id)
        .into_iter()
        .find(|e| e.kind.as_str() == "timer")
        .unwrap();
    assert!(timer.response.unwrap().contains("\"early\":false"));
}

#[test]
fn timer_resumed_after_its_wake_time_continues_at_once() {
    let scratch = waiter();
    let (id, _) = start_waiter(&scratch, "sleep 300");
    std::thread::sleep(Duration::from_millis(400));
    let begun = Instant::now();
    let out = resume(&scratch, &id, &[]);
    assert_code(&out, 0);
    assert!(begun.elapsed() < Duration::from_secs(5));
    assert_eq!(
        export_and_replay(&scratch, &id, &guest("waiter"))["passed"],
        true
    );
}

#[test]
fn timer_woken_early_is_journaled_as_such() {
    let scratch = waiter();
    let (id, _) = start_waiter(&scratch, "sleep 3600000");
    let out = resume(&scratch, &id, &["--now"]);
    assert_code(&out, 0);
    let timer = scratch
        .entries(&id)
        .into_iter()
        .find(|e| e.kind.as_str() == "timer")
        .unwrap();
    assert!(timer.response.unwrap().contains("\"early\":true"));
}

#[test]
fn signal_with_payload_is_delivered() {
    let scratch = waiter();
    let (id, waiting) = start_waiter(&scratch, "signal go");
    assert_eq!(
        (waiting["kind"].as_str(), waiting["name"].as_str()),
        (Some("signal"), Some("go"))
    );
    let wrong = scratch.run(&["signal", &id, "stop"]);
    assert_code(&wrong, 1);
    assert!(
        stderr(&wrong).contains("waiting for signal `go`, not for the signal `stop`"),
        "{}",
        stderr(&wrong)
    );
    assert_code(
        &scratch.run(&["signal", &id, "go", "--data", r#"{"n":1}"#]),
        0,
    );
    let out = resume(&scratch, &id, &[]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["output"], r#"got {"n":1}"#);
}

#[test]
fn signal_that_times_out() {
    let scratch = waiter();
    let (id, waiting) = start_waiter(&scratch, "signal go 300");
    assert!(waiting["until_ms"].as_i64().is_some());
    std::thread::sleep(Duration::from_millis(400));
    let out = resume(&scratch, &id, &[]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["output"], "timed out");
}

#[test]
fn tool_marked_approval_required_asks_first_without_guest_changes() {
    let scratch = Scratch::example("stepper");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    std::fs::write(
        scratch.file("relive.toml"),
        config.replace(
            "idempotent = true",
            "idempotent = true\napproval = \"required\"",
        ),
    )
    .unwrap();
    let run = |args: &[&str]| scratch.relive().args(args).output().unwrap();
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "2", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 6);
    let report = json(&out);
    assert_eq!(report["waiting"]["name"], "tool:tally");
    let id = report["id"].as_str().unwrap().to_string();
    assert!(
        report["waiting"]["details"]
            .as_str()
            .unwrap()
            .contains(r#""step":1"#)
    );
    assert!(
        !scratch.file("tally.log").exists(),
        "the tool must not run before the approval"
    );

    assert_code(&run(&["approve", &id]), 0);
    let out = run(&["resume", &id, "--json"]);
    assert_code(&out, 6); // step 2 asks again
    assert!(
        json(&out)["waiting"]["details"]
            .as_str()
            .unwrap()
            .contains(r#""step":2"#)
    );
    assert_code(&run(&["reject", &id, "--reason", "enough"]), 0);
    let out = run(&["resume", &id, "--json"]);
    assert_code(&out, 3);
    let error = json(&out)["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("a person rejected this call of tool `tally`: enough"),
        "{error}"
    );
    let tally = std::fs::read_to_string(scratch.file("tally.log")).unwrap();
    assert_eq!(
        tally.lines().count(),
        1,
        "only the approved call ran: {tally}"
    );
    assert!(tally.lines().next().unwrap().ends_with(" 1"));
}

#[test]
fn guest_output_is_shown_once_and_not_again_on_replay() {
    let scratch = waiter();
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("waiter"))
        .args(["--input", "sleep 100"])
        .output()
        .unwrap();
    assert_code(&out, 6);
    assert!(
        stdout(&out).is_empty(),
        "guest output must not mix with relive's stdout"
    );
    assert!(
        stderr(&out).contains("[agent stdout] waiter starts: sleep 100"),
        "{}",
        stderr(&out)
    );
    std::thread::sleep(Duration::from_millis(150));
    let id = relive::journal::all_runs(&*scratch.journal(), None).unwrap()[0]
        .id
        .clone();
    let resumed = scratch.relive().args(["resume", &id]).output().unwrap();
    assert_code(&resumed, 0);
    assert!(
        !stderr(&resumed).contains("waiter starts"),
        "re-emitted on replay: {}",
        stderr(&resumed)
    );
}
