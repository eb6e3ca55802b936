//! Many agents (issue 16): child runs started with `agents.call`/`spawn`,
//! joined, killed at awkward moments, cancelled, waiting for people, counted
//! against budgets, run by `relive serve` — with the real binary, real guests
//! and SIGKILL.

use crate::serve::{Served, example, is_final, post, wait_run};
use crate::support::*;
use relive::journal::{EntryKind, EntryState, RunRecord, RunStatus};
use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A scratch folder where `tree` may start `tree`, `waiter` and `hostile`.
fn tree_scratch(extra: &str) -> Scratch {
    let scratch = Scratch::new();
    std::fs::write(
        scratch.file("relive.toml"),
        format!(
            "[agents.tree]\ncomponent = \"{}\"\nagents = [\"tree\", \"waiter\"]\n\n\
             [agents.waiter]\ncomponent = \"{}\"\n{extra}",
            guest("tree").display(),
            guest("waiter").display(),
        ),
    )
    .unwrap();
    scratch
}

fn runs_of(scratch: &Scratch) -> Vec<RunRecord> {
    if !scratch.db().exists() {
        return Vec::new();
    }
    relive::journal::all_runs(&*scratch.journal(), None).unwrap()
}

fn children_of(scratch: &Scratch, parent: &str) -> Vec<RunRecord> {
    let mut children: Vec<RunRecord> = runs_of(scratch)
        .into_iter()
        .filter(|r| r.parent.as_deref() == Some(parent))
        .collect();
    children.sort_by(|a, b| a.id.cmp(&b.id));
    children
}

fn run_json(scratch: &Scratch, agent: &str, input: &str, code: i32) -> serde_json::Value {
    let out = scratch.run(&["run", agent, "--input", input, "--json"]);
    assert_code(&out, code);
    json(&out)
}

#[test]
fn the_dispatcher_hands_off_to_a_researcher_child_run() {
    let scratch = example("dispatcher");
    let report = run_json(
        &scratch,
        "dispatcher",
        "How does relive resume a run after a crash?",
        0,
    );
    let id = report["id"].as_str().unwrap().to_string();
    let children = children_of(&scratch, &id);
    assert_eq!(children.len(), 1, "{children:?}");
    let child = &children[0];
    assert_eq!(
        (child.agent.as_str(), child.status),
        ("researcher", RunStatus::Completed)
    );
    // The hand-off: the child's answer is the dispatcher's.
    assert_eq!(report["output"].as_str(), child.output.as_deref());
    // The child call is journaled as spawn + join, the child's id derived
    // from the parent's id and the spawn's position.
    let entries = scratch.entries(&id);
    let spawn = entries.iter().find(|e| e.kind == EntryKind::Spawn).unwrap();
    assert_eq!(child.id, format!("{id}.{}", spawn.seq));
    assert!(entries.iter().any(|e| e.kind == EntryKind::Join));
    // The tree is visible.
    let listing = stdout(&scratch.run(&["runs"]));
    assert!(listing.contains(&format!("└ {}", child.id)), "{listing}");
    // A full page of one tree names the tree's top run as the cursor of the
    // next page (not its last child, which would list the tree again).
    let page = scratch.run(&["runs", "--limit", "1"]);
    let hint = String::from_utf8_lossy(&page.stderr).to_string();
    assert!(
        hint.contains(&format!("relive runs --before {id}`")),
        "{hint}"
    );
    let next = stdout(&scratch.run(&["runs", "--before", &id, "--json"]));
    let next: serde_json::Value = serde_json::from_str(&next).unwrap();
    assert_eq!(
        next,
        serde_json::json!([]),
        "the next page lists no run again"
    );
    let shown = stdout(&scratch.run(&["show", &id]));
    assert!(
        shown.contains(&format!("child run {} (researcher): completed", child.id)),
        "{shown}"
    );
    let shown = stdout(&scratch.run(&["show", &child.id]));
    assert!(shown.contains(&format!("started by run {id}")), "{shown}");
    // Both journals are replay tests.
    for (run, wasm) in [(&id, "dispatcher"), (&child.id, "researcher")] {
        let replay = export_and_replay(&scratch, run, &guest(wasm));
        assert_eq!(replay["passed"], true, "{run}: {replay}");
    }
}

#[test]
fn the_planner_runs_one_researcher_per_item_and_puts_the_answers_together() {
    let scratch = example("planner");
    let report = run_json(&scratch, "planner", "durable agents", 0);
    let id = report["id"].as_str().unwrap().to_string();
    let children = children_of(&scratch, &id);
    assert_eq!(children.len(), 3, "{children:?}");
    assert!(children.iter().all(|c| c.status == RunStatus::Completed));
    let output = report["output"].as_str().unwrap();
    for (i, q) in [
        "What is durable execution?",
        "How does relive replay a journal?",
        "What does an idempotency key protect?",
    ]
    .iter()
    .enumerate()
    {
        assert!(output.contains(&format!("{}. {q}", i + 1)), "{output}");
    }
    let replay = export_and_replay(&scratch, &id, &guest("planner"));
    assert_eq!(replay["passed"], true, "{replay}");
}

/// SIGKILL while a child's tool call runs: the resumed parent finds the same
/// child, the child goes on from its journal, completed searches ran once.
#[test]
fn a_kill_during_a_childs_tool_call_resumes_the_same_child() {
    let scratch = example("dispatcher");
    let log = scratch.file("search.log");
    let pidfile = scratch.file("hang.pid");
    let mut first = scratch
        .relive()
        .args([
            "run",
            "dispatcher",
            "--input",
            "How does relive resume a run?",
        ])
        .env("SEARCH_LOG", &log)
        .env("SEARCH_HANG_ON", "replay")
        .env("SEARCH_HANG_PIDFILE", &pidfile)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    while !pidfile.exists() {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "the search never hung"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let hung = std::fs::read_to_string(&pidfile).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-9", hung.trim()])
        .status();
    let parent = runs_of(&scratch)
        .into_iter()
        .find(|r| r.parent.is_none())
        .unwrap();
    let before = children_of(&scratch, &parent.id);
    assert_eq!(before.len(), 1);
    let out = scratch
        .relive()
        .args(["resume", &parent.id, "--json"])
        .env("SEARCH_LOG", &log)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let children = children_of(&scratch, &parent.id);
    assert_eq!(children.len(), 1, "no second child: {children:?}");
    assert_eq!(children[0].id, before[0].id);
    assert_eq!(json(&out)["output"].as_str(), children[0].output.as_deref());
    // The first search completed before the kill and ran once; the one that
    // hung ran again, with the same key.
    let counts = first_word_counts(&log);
    assert_eq!(counts.len(), 2, "{counts:?}");
    let mut runs: Vec<usize> = counts.values().copied().collect();
    runs.sort();
    assert_eq!(runs, vec![1, 2], "{counts:?}");
    for (run, wasm) in [(&parent.id, "dispatcher"), (&children[0].id, "researcher")] {
        let replay = export_and_replay(&scratch, run, &guest(wasm));
        assert_eq!(replay["passed"], true, "{run}: {replay}");
    }
}

/// SIGKILL between the spawns and the join, and again while the parent is
/// replaying: however many times it resumes, the parent has one child per
/// spawn and its output is what a replay gives.
#[test]
fn kills_between_spawn_and_join_and_during_replay_start_no_second_child() {
    let scratch = tree_scratch("");
    for kill_after_spawns in [1, 3] {
        let mut child = scratch
            .relive()
            .args(["run", "tree", "--input", "fanout tree 4 echo x"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill as soon as the journal holds this many spawns.
        let begun = Instant::now();
        loop {
            let top = runs_of(&scratch)
                .into_iter()
                .filter(|r| r.parent.is_none())
                .max_by_key(|r| r.created_at_ms);
            let spawns = top
                .map(|r| {
                    scratch
                        .entries(&r.id)
                        .iter()
                        .filter(|e| e.kind == EntryKind::Spawn && e.state == EntryState::Completed)
                        .count()
                })
                .unwrap_or(0);
            if spawns >= kill_after_spawns || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(begun.elapsed() < Duration::from_secs(60));
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        child.wait().unwrap();
    }
    for parent in runs_of(&scratch).into_iter().filter(|r| r.parent.is_none()) {
        // A resume killed at once, while it replays.
        let mut resume = scratch
            .relive()
            .args(["resume", &parent.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let _ = resume.kill();
        resume.wait().unwrap();
        let out = scratch.run(&["resume", &parent.id, "--json"]);
        assert_code(&out, 0);
        let output = json(&out)["output"].as_str().unwrap().to_string();
        assert_eq!(output, "0: x0\n1: x1\n2: x2\n3: x3");
        let children = children_of(&scratch, &parent.id);
        assert_eq!(children.len(), 4, "one child per spawn: {children:?}");
        let spawns = scratch
            .entries(&parent.id)
            .iter()
            .filter(|e| e.kind == EntryKind::Spawn)
            .count();
        assert_eq!(spawns, 4);
        let replay = export_and_replay(&scratch, &parent.id, &guest("tree"));
        assert_eq!(replay["passed"], true, "{replay}");
    }
}

#[test]
fn a_failed_child_is_an_error_the_parent_handles() {
    let scratch = tree_scratch("");
    let report = run_json(&scratch, "tree", "call tree fail out of notes", 0);
    let output = report["output"].as_str().unwrap();
    assert!(
        output.starts_with("error: failed: child run") && output.ends_with("out of notes"),
        "{output}"
    );
    // An agent the operator did not allow is refused, naming the key.
    let report = run_json(&scratch, "tree", "call hostile ok", 0);
    let output = report["output"].as_str().unwrap();
    assert!(
        output.contains("denied") && output.contains("add \"hostile\" to `agents`"),
        "{output}"
    );
}

/// A child waiting for an approval suspends the tree until it is answered.
#[test]
fn a_child_waiting_for_approval_suspends_the_tree() {
    let scratch = tree_scratch("");
    let report = run_json(&scratch, "tree", "call waiter approve deploy", 6);
    let id = report["id"].as_str().unwrap().to_string();
    assert_eq!(report["waiting"]["kind"], "join", "{report}");
    let child = children_of(&scratch, &id).remove(0);
    assert_eq!(child.status, RunStatus::Suspended);
    let waiting = json(&scratch.run(&["runs", "--json"]));
    let child_view = waiting
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == child.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(child_view["waiting"]["kind"], "approval", "{child_view}");
    // Resuming the parent before the answer changes nothing.
    assert_code(&scratch.run(&["resume", &id]), 6);
    assert_code(&scratch.run(&["approve", &child.id]), 0);
    let out = scratch.run(&["resume", &id, "--json"]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["output"], "called: approved");
}

#[test]
fn cancelling_a_parent_cancels_its_children() {
    let scratch = tree_scratch("");
    let report = run_json(&scratch, "tree", "fanout waiter 2 signal go", 6);
    let id = report["id"].as_str().unwrap().to_string();
    let children = children_of(&scratch, &id);
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c.status == RunStatus::Suspended));
    let out = scratch.run(&["cancel", &id, "--reason", "not needed"]);
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("with its child runs"),
        "{}",
        stderr(&out)
    );
    assert_eq!(scratch.run_record(&id).status, RunStatus::Cancelled);
    for child in children_of(&scratch, &id) {
        assert_eq!(child.status, RunStatus::Cancelled, "{child:?}");
        assert!(child.error.unwrap().contains(&id));
    }
    // Cancelled is for good (issue 12.3): resuming the parent or a child,
    // or answering what a child waited for, is refused and changes nothing.
    let child = children[0].id.clone();
    for run in [&id, &child] {
        let out = scratch.run(&["resume", run]);
        assert_code(&out, 1);
        assert!(
            stderr(&out).contains("is cancelled and cannot be resumed"),
            "{}",
            stderr(&out)
        );
    }
    let out = scratch.run(&["signal", &child, "go"]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(scratch.run_record(&id).status, RunStatus::Cancelled);
    assert_eq!(scratch.run_record(&child).status, RunStatus::Cancelled);
}

/// What children use counts toward the parent's budgets.
#[test]
fn a_childs_tokens_count_toward_the_parents_budget() {
    let scratch = example("dispatcher");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let config = config.replace(
        "agents = [\"researcher\"]",
        "agents = [\"researcher\"]\nbudget_tokens = 500",
    );
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    let report = run_json(&scratch, "dispatcher", "How does relive resume a run?", 3);
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("over its budget of 500") && error.contains("budget_tokens"),
        "{error}"
    );
    // The child itself completed: its own budget is its own.
    let id = report["id"].as_str().unwrap();
    assert_eq!(children_of(&scratch, id)[0].status, RunStatus::Completed);
}

/// `relive serve` runs trees of runs, and recovers them after SIGKILL.
#[test]
fn serve_runs_trees_and_recovers_them_after_sigkill() {
    let scratch = tree_scratch("");
    let mut s = Served::start(&scratch, &[], &[]);
    let run = post(
        &s,
        "/v1/runs",
        json!({ "agent": "tree", "input": "fanout waiter 3 signal go" }),
    );
    let id = run["id"].as_str().unwrap().to_string();
    let begun = Instant::now();
    while children_of(&scratch, &id)
        .iter()
        .filter(|c| c.status == RunStatus::Suspended)
        .count()
        < 3
    {
        assert!(begun.elapsed() < Duration::from_secs(60), "{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let view = wait_run(&s, &id, Duration::from_secs(30), |r| {
        r["status"] == "suspended"
    });
    assert_eq!(view["children"].as_array().unwrap().len(), 3, "{view}");
    s.kill9();
    let s = Served::start(&scratch, &[], &[]);
    for (i, child) in children_of(&scratch, &id).iter().enumerate() {
        post(
            &s,
            &format!("/v1/runs/{}/signals/go{i}", child.id),
            json!({ "data": i }),
        );
    }
    let run = wait_run(&s, &id, Duration::from_secs(60), is_final);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], "0: got 0\n1: got 1\n2: got 2");
    assert_eq!(children_of(&scratch, &id).len(), 3);
}

/// A scratch folder for the batch calls of `tree`: the `nap` tool and a
/// scripted model.
fn batch_scratch() -> Scratch {
    let scratch = Scratch::new();
    let replies: Vec<serde_json::Value> = (0..4)
        .map(|i| json!({ "content": format!("answer {i}"), "usage": { "input_tokens": 3, "output_tokens": 2 } }))
        .collect();
    std::fs::write(
        scratch.file("script.json"),
        json!({ "replies": replies }).to_string(),
    )
    .unwrap();
    std::fs::write(
        scratch.file("relive.toml"),
        format!(
            "[models.scripted]\nprovider = \"scripted\"\nscript = \"script.json\"\n\n\
             [tools.nap]\ncommand = [\"sh\", \"{}\"]\nidempotent = true\n\n\
             [agents.tree]\ncomponent = \"{}\"\nmodels = [\"scripted\"]\ntools = [\"nap\"]\n",
            root().join("tests/guests/tree/tools/nap.sh").display(),
            guest("tree").display(),
        ),
    )
    .unwrap();
    scratch
}

/// `tools.call-batch` runs its calls at once and journals them in the order
/// asked, so the replay is the same whatever order they finished in.
#[test]
fn a_batch_of_tool_calls_runs_at_once_and_is_journaled_in_order() {
    let scratch = batch_scratch();
    let log = scratch.file("nap.log");
    let out = scratch
        .relive()
        .args(["run", "tree", "--input", "batch 4", "--json"])
        .env("NAP_LOG", &log)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let report = json(&out);
    let output = report["output"].as_str().unwrap();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 4, "{output}");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("{{\"i\": {i},")), "{output}");
    }
    // All four started before the first ended: they ran at once (the first
    // asked for the longest nap, so it ended last).
    let text = std::fs::read_to_string(&log).unwrap();
    let times = |what: &str| -> Vec<u128> {
        text.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(what))
            .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
            .collect()
    };
    let (starts, ends) = (times("start"), times("end"));
    assert_eq!((starts.len(), ends.len()), (4, 4), "{text}");
    assert!(
        starts.iter().max() < ends.iter().min(),
        "the calls did not overlap:\n{text}"
    );
    // Journaled in the order asked.
    let id = report["id"].as_str().unwrap();
    let tools: Vec<String> = scratch
        .entries(id)
        .iter()
        .filter(|e| e.kind == EntryKind::Tool)
        .map(|e| e.request.clone())
        .collect();
    for (i, request) in tools.iter().enumerate() {
        assert!(request.starts_with(&format!("{{\"i\":{i},")), "{tools:?}");
    }
    let replay = export_and_replay(&scratch, id, &guest("tree"));
    assert_eq!(replay["passed"], true, "{replay}");
}

/// SIGKILL in the middle of a batch: the calls that completed are not run
/// again, the one in flight is (the same key), the output is the replay's.
#[test]
fn a_kill_in_the_middle_of_a_batch_reruns_only_the_unfinished_calls() {
    let scratch = batch_scratch();
    let log = scratch.file("nap.log");
    let pidfile = scratch.file("hang.pid");
    let mut first = scratch
        .relive()
        .args(["run", "tree", "--input", "batch 4"])
        .env("NAP_LOG", &log)
        .env("NAP_HANG_AT", "0")
        .env("NAP_HANG_PIDFILE", &pidfile)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    // Call 0 hangs; wait until the three others have ended and been recorded.
    loop {
        let ended = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" end "))
            .count();
        let completed = runs_of(&scratch).first().map_or(0, |r| {
            scratch
                .entries(&r.id)
                .iter()
                .filter(|e| e.kind == EntryKind::Tool && e.state == EntryState::Completed)
                .count()
        });
        if ended == 3 && completed == 3 && pidfile.exists() {
            break;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "the batch never got there"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let hung = std::fs::read_to_string(&pidfile).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-9", hung.trim()])
        .status();
    let id = runs_of(&scratch)[0].id.clone();
    let out = scratch
        .relive()
        .args(["resume", &id, "--json"])
        .env("NAP_LOG", &log)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let starts: std::collections::HashMap<String, usize> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains(" start "))
        .fold(Default::default(), |mut m, l| {
            *m.entry(l.split_whitespace().next().unwrap().to_string())
                .or_default() += 1;
            m
        });
    let mut counts: Vec<usize> = starts.values().copied().collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![1, 1, 1, 2],
        "only the hung call ran again: {starts:?}"
    );
    let replay = export_and_replay(&scratch, &id, &guest("tree"));
    assert_eq!(replay["passed"], true, "{replay}");
    assert_eq!(replay["status"], "completed");
}

/// `llm.chat-batch`: one LLM entry per request, in order, each answered as
/// the n-th LLM call of the run.
#[test]
fn a_batch_of_chat_requests_is_journaled_in_order() {
    let scratch = batch_scratch();
    let report = run_json(&scratch, "tree", "ask 3", 0);
    assert_eq!(report["output"], "answer 0\nanswer 1\nanswer 2");
    let id = report["id"].as_str().unwrap();
    let llm: Vec<String> = scratch
        .entries(id)
        .iter()
        .filter(|e| e.kind == EntryKind::Llm)
        .map(|e| e.request.clone())
        .collect();
    assert_eq!(llm.len(), 3);
    for (i, request) in llm.iter().enumerate() {
        assert!(request.contains(&format!("question {i}")), "{llm:?}");
    }
    let replay = export_and_replay(&scratch, id, &guest("tree"));
    assert_eq!(replay["passed"], true, "{replay}");
}
