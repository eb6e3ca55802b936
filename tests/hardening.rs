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
