//! A changed build of an example replayed against an old journal fails with
//! a precise divergence: the entry index, the expected call and the actual
//! one.

use crate::support::*;
use relive::journal::EntryKind;

#[test]
fn changed_stepper_diverges_at_the_changed_tool_call() {
    let scratch = Scratch::example("stepper");
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "5", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    let id = json(&out)["id"].as_str().unwrap().to_string();
    let entries = scratch.entries(&id);
    let changed = entries
        .iter()
        .find(|e| e.kind == EntryKind::Tool && e.request.contains(r#""step":3,"#))
        .expect("step 3 called the tool");

    let file = scratch.file("run.jsonl");
    assert_code(
        &scratch.run(&["export", &id, "-o", file.to_str().unwrap()]),
        0,
    );

    // The unchanged build passes; the changed one diverges.
    let pass = relive_bin()
        .arg("replay")
        .arg(guest("stepper"))
        .arg(&file)
        .output()
        .unwrap();
    assert_code(&pass, 0);
    assert!(
        stdout(&pass).contains("replay passed: 20 entries"),
        "{}",
        stdout(&pass)
    );

    let fail = relive_bin()
        .arg("replay")
        .arg(changed_stepper())
        .arg(&file)
        .output()
        .unwrap();
    assert_code(&fail, 4);
    let text = stdout(&fail);
    assert!(
        text.contains(&format!("diverged at entry #{}", changed.seq)),
        "{text}"
    );
    assert!(
        text.contains(&format!("expected: tool `tally` {}", changed.request)),
        "{text}"
    );
    assert!(
        text.contains("actual:   tool `tally` {\"step\":3,"),
        "{text}"
    );
    assert!(text.contains(r#""variant":"changed""#), "{text}");
    assert!(text.contains("differs:  at byte"), "{text}");
    assert!(text.contains("usual causes"), "{text}");

    let json_out = relive_bin()
        .arg("replay")
        .arg(changed_stepper())
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    assert_code(&json_out, 4);
    let report = json(&json_out);
    assert_eq!(report["passed"], false);
    assert_eq!(report["status"], "diverged");
}

#[test]
fn replay_of_a_journal_cut_short_reports_the_missing_call() {
    let scratch = Scratch::example("stepper");
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "3", "--json"])
        .output()
        .unwrap();
    let id = json(&out)["id"].as_str().unwrap().to_string();
    let file = scratch.file("run.jsonl");
    assert_code(
        &scratch.run(&["export", &id, "-o", file.to_str().unwrap()]),
        0,
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Keep the header and the first 6 entries.
    std::fs::write(&file, lines[..7].join("\n")).unwrap();
    let replay = relive_bin()
        .arg("replay")
        .arg(guest("stepper"))
        .arg(&file)
        .output()
        .unwrap();
    assert_code(&replay, 4);
    let text = stdout(&replay);
    assert!(text.contains("diverged at entry #6"), "{text}");
    assert!(text.contains("expected: the end of the journal"), "{text}");
    assert!(text.contains("actual:   random `u64`"), "{text}");
}
