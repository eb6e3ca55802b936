//! Record → replay: both examples give the same output and the same
//! journal when replayed, and the CLI's read commands show the run.

use crate::support::*;

/// Records a run of `agent` and checks that a replay of its journal
/// matches every entry and reproduces the output.
fn record_then_replay(example: &str, input: &str) -> (Scratch, String, String) {
    let scratch = Scratch::example(example);
    let component = guest(example);
    let out = scratch
        .relive()
        .arg("run")
        .arg(&component)
        .args(["--input", input, "--json"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["status"], "completed", "{report}");
    let id = report["id"].as_str().unwrap().to_string();
    let output = report["output"].as_str().unwrap().to_string();

    let replay = export_and_replay(&scratch, &id, &component);
    assert_eq!(replay["passed"], true, "{replay}");
    let recorded = scratch.entries(&id);
    assert_eq!(replay["entries"], recorded.len(), "{replay}");

    // Resuming a completed run replays nothing and repeats the output.
    let again = scratch.run(&["resume", &id, "--json"]);
    assert_code(&again, 0);
    assert_eq!(json(&again)["output"], output.as_str());
    assert_eq!(
        scratch.entries(&id),
        recorded,
        "a resume must not touch a completed journal"
    );
    (scratch, id, output)
}

#[test]
fn researcher_records_and_replays() {
    let (scratch, id, output) =
        record_then_replay("researcher", "How does relive resume a crashed run?");
    assert!(output.contains("replaying its journal"), "{output}");
    let entries = scratch.entries(&id);
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|k| *k == "llm" || *k == "tool")
        .collect();
    assert_eq!(kinds, ["llm", "tool", "llm", "tool", "llm"]);
    let tokens: u32 = entries
        .iter()
        .filter_map(|e| e.usage)
        .map(|u| u.input_tokens)
        .sum();
    assert_eq!(tokens, 182 + 356 + 571, "token usage is recorded per call");

    // `show` prints the timeline with totals; `runs` lists the run.
    let show = scratch.run(&["show", &id]);
    assert_code(&show, 0);
    let text = stdout(&show);
    assert!(
        text.contains("3 LLM calls (1109 input / 172 output tokens), 2 tool calls"),
        "{text}"
    );
    assert!(text.contains("search"), "{text}");
    let runs = scratch.run(&["runs", "--json"]);
    assert_code(&runs, 0);
    let runs = json(&runs);
    assert_eq!(runs[0]["id"], id.as_str());
    assert_eq!(runs[0]["status"], "completed");
}

#[test]
fn stepper_records_and_replays() {
    let (scratch, id, output) = record_then_replay("stepper", "25");
    assert!(output.starts_with("steps=25 digest="), "{output}");
    let entries = scratch.entries(&id);
    // Per step: wall clock, monotonic clock, random, tool; plus 2 log lines.
    assert_eq!(entries.len(), 25 * 4 + 2);
    let tally = std::fs::read_to_string(scratch.file("tally.log")).unwrap();
    assert_eq!(tally.lines().count(), 25, "each tool call ran exactly once");
}

#[test]
fn prefix_of_a_run_id_is_accepted() {
    let scratch = Scratch::example("stepper");
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "1", "--json"])
        .output()
        .unwrap();
    let id = json(&out)["id"].as_str().unwrap().to_string();
    let show = scratch.run(&["show", &id[..6]]);
    assert_code(&show, 0);
    assert!(stdout(&show).contains(&id));
}
