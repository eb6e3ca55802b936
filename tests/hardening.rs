//! Regression tests of issue 12 ("harden the core"), one per item, named
//! after what they pin. Each one failed on the main of 2026-12-03.

use crate::serve::{Served, http, is_final, post, wait_run};
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// A scratch folder whose relive.toml grants the `waiter` guest.
fn waiter_scratch(extra: &str) -> Scratch {
    let scratch = Scratch::new();
    std::fs::write(
        scratch.file("relive.toml"),
        format!(
            "[agents.waiter]\ncomponent = \"{}\"\n{extra}",
            guest("waiter").display()
        ),
    )
    .unwrap();
    scratch
}

/// 12.2: an answer given while the run is still suspending is never lost.
/// Each signal is sent the moment its run is created, and retried until
/// the service accepts it; today some runs then stay suspended with an
/// answered wait, and every further answer is refused.
#[test]
fn answers_sent_while_runs_suspend_are_never_lost() {
    let scratch = waiter_scratch("");
    let s = Served::start(&scratch, &["--max-runs", "32"], &[]);
    let mut ids = Vec::new();
    let mut refused = 0usize;
    for i in 0..200 {
        let run = post(
            &s,
            "/v1/runs",
            json!({ "agent": "waiter", "input": "signal go" }),
        );
        let id = run["id"].as_str().unwrap().to_string();
        let begun = Instant::now();
        loop {
            let (code, body) = http(
                "POST",
                &s.url(&format!("/v1/runs/{id}/signals/go")),
                Some(json!({ "data": i })),
                None,
            );
            if code == 200 {
                break;
            }
            refused += 1;
            assert!(
                begun.elapsed() < Duration::from_secs(30),
                "signal to run {id} never accepted: {code} {body}\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        ids.push((id, i));
    }
    eprintln!("200 signals delivered ({refused} early attempts refused)");
    for (id, i) in &ids {
        let run = wait_run(&s, id, Duration::from_secs(60), is_final);
        assert_eq!(run["output"], format!("got {i}"), "{run}");
    }
}

/// 12.8: a guest's own sleep (`std::thread::sleep`, a `wasi:io/poll` wait)
/// is answered from the journal on replay instead of sleeping again.
#[test]
fn a_guest_sleep_is_not_slept_again_on_replay() {
    let scratch = waiter_scratch("");
    let out = scratch.run(&["run", "waiter", "--input", "nap 4000 go", "--json"]);
    assert_code(&out, 6);
    let id = json(&out)["id"].as_str().unwrap().to_string();
    let polls = scratch
        .entries(&id)
        .iter()
        .filter(|e| e.kind == relive::journal::EntryKind::Poll)
        .count();
    assert!(polls >= 1, "the sleep is journaled as a poll entry");
    assert_code(&scratch.run(&["signal", &id, "go", "--data", "7"]), 0);
    let begun = Instant::now();
    let out = scratch.run(&["resume", &id, "--json"]);
    let took = begun.elapsed();
    assert_code(&out, 0);
    let report = json(&out);
    // The guest measured its sleep with the journaled monotonic clock: the
    // replay reports the 4 s it slept the first time, without sleeping.
    let output = report["output"].as_str().unwrap();
    let napped: u64 = output
        .strip_prefix("napped ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {output}"));
    assert!(napped >= 4000, "{output}");
    assert!(output.ends_with("got 7"), "{output}");
    assert!(
        took < Duration::from_millis(3500),
        "the resume slept again: {took:?}"
    );
}
