//! MCP servers' tools granted to an agent: over stdio and HTTP, journaled,
//! keys kept out of the guest and the journal, `allow`, approvals, a replay
//! that never reaches the server, and servers that break their word.

use crate::common::*;
use crate::support::*;
use relive::journal::EntryKind;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Issue 17: a stdio server from PyPI. Its tools are offered to the model
/// as `time__…`, a call is journaled with its answer, the policy records
/// that the tools are idempotent (their annotations say read-only), and
/// the exported journal replays without the server.
#[test]
fn a_stdio_servers_tools_are_granted_called_and_journaled() {
    let Some(dir) = servers() else { return };
    let config = format!(
        "[tools.time]\nmcp = {{ command = [\"{}\", \"--local-timezone\", \"UTC\"] }}\n",
        time_server(&dir)
    );
    let args = json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"});
    let scratch = researcher(
        &config,
        &["time"],
        script(&[&[("time__convert_time", args)]]),
    );
    let (run, out) = run_researcher(&scratch, &[]);
    assert_code(&out, 0);
    let answer: Value =
        serde_json::from_str(&tool_answer(&scratch, &run, "time__convert_time").unwrap()).unwrap();
    assert_eq!(answer["time_difference"], "+9.0h", "{answer}");
    assert!(
        answer["target"]["datetime"]
            .as_str()
            .unwrap()
            .ends_with("T21:00:00+09:00"),
        "{answer}"
    );
    // The model was offered the server's tools under their relive names.
    let entries = scratch.entries(&run);
    let list = entries
        .iter()
        .find(|e| e.kind == EntryKind::ToolList)
        .unwrap();
    let specs: Vec<Value> = serde_json::from_str(list.response.as_deref().unwrap()).unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["time__convert_time", "time__get_current_time"]);
    assert!(
        specs[0]["parameters"]
            .as_str()
            .unwrap()
            .contains("source_timezone")
    );
    let policy = scratch.run_record(&run).policy.unwrap();
    assert_eq!(
        policy["tools"]["time__convert_time"],
        json!({"idempotent": true, "approval": false})
    );
    // The journal replays with no server at all.
    let report = export_and_replay(&scratch, &run, &guest("researcher"));
    assert_eq!(report["passed"], true, "{report}");
}

/// Issue 17: a streamable HTTP server from npm, reached with a bearer
/// token from relive's environment: its tools answer, structured content
/// comes back as JSON, and the token is in neither the journal nor the
/// output.
#[test]
fn an_http_servers_tools_work_and_the_key_stays_out_of_the_journal() {
    let Some(dir) = servers() else { return };
    let server = HttpEverything::start(&dir);
    let config = format!(
        "[tools.every]\nmcp = {{ url = \"{}\", bearer_env = \"EVERY_TOKEN\", headers_env = {{ X-Team = \"EVERY_TEAM\" }} }}\nallow = [\"get-sum\", \"get-structured-content\", \"echo\"]\n",
        server.url
    );
    let steps = script(&[&[
        ("every__get-sum", json!({"a": 2, "b": 3})),
        (
            "every__get-structured-content",
            json!({"location": "New York"}),
        ),
    ]]);
    let scratch = researcher(&config, &["every"], steps);
    let token = "tok-9f8e7d6c5b4a-secret";
    let (run, out) = run_researcher(
        &scratch,
        &[("EVERY_TOKEN", token), ("EVERY_TEAM", "team-x")],
    );
    assert_code(&out, 0);
    assert_eq!(
        tool_answer(&scratch, &run, "every__get-sum").unwrap(),
        r#""The sum of 2 and 3 is 5.""#
    );
    let weather: Value = serde_json::from_str(
        &tool_answer(&scratch, &run, "every__get-structured-content").unwrap(),
    )
    .unwrap();
    assert_eq!(
        weather,
        json!({"temperature": 33, "conditions": "Cloudy", "humidity": 82})
    );
    // Only the allowed tools are offered.
    let specs = scratch
        .entries(&run)
        .into_iter()
        .find(|e| e.kind == EntryKind::ToolList)
        .unwrap();
    assert!(specs.response.as_deref().unwrap().contains("every__echo"));
    assert!(
        !specs
            .response
            .as_deref()
            .unwrap()
            .contains("every__get-env")
    );
    let mut journal = Vec::new();
    for entry in std::fs::read_dir(scratch.path()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("relive.db") {
            journal.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    assert!(!journal.is_empty());
    assert!(
        !journal.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is in the journal"
    );
    assert!(!stdout(&out).contains(token) && !stderr(&out).contains(token));
    // Without the variable, the run does not start, and says which one.
    let out = scratch
        .relive()
        .args(["run", "researcher", "--input", "go"])
        .env("EVERY_TEAM", "team-x")
        .output()
        .unwrap();
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("EVERY_TOKEN is not set"),
        "{}",
        stderr(&out)
    );
}

/// Issue 17: a stdio server gets PATH, HOME and the variables its `env`
/// names — nothing else of relive's environment.
#[test]
fn a_stdio_server_sees_only_the_environment_it_is_given() {
    let Some(dir) = servers() else { return };
    let config = format!(
        "[tools.every]\nmcp = {{ command = [\"{}\", \"stdio\"], env = {{ SECRET_KEY = \"MY_KEY\" }} }}\nallow = [\"get-env\"]\n",
        everything(&dir)
    );
    let scratch = researcher(
        &config,
        &["every"],
        script(&[&[("every__get-env", json!({}))]]),
    );
    let (run, out) = run_researcher(
        &scratch,
        &[("MY_KEY", "k-123"), ("UNRELATED_SECRET", "leak")],
    );
    assert_code(&out, 0);
    let text: String =
        serde_json::from_str(&tool_answer(&scratch, &run, "every__get-env").unwrap()).unwrap();
    let env: Value = serde_json::from_str(&text).unwrap();
    let mut names: Vec<&str> = env
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort();
    assert_eq!(names, ["HOME", "PATH", "SECRET_KEY"], "{env}");
    assert_eq!(env["SECRET_KEY"], "k-123");
}

/// Issue 17: `approval = "required"` holds an MCP tool's call for a
/// person, and a resume replays the calls made before it without
/// contacting their server: here it no longer even starts.
#[test]
fn approvals_hold_mcp_calls_and_a_resume_does_not_contact_replayed_servers() {
    let Some(dir) = servers() else { return };
    let time = time_server(&dir);
    let config = |time_command: &str| {
        format!(
            "[tools.time]\nmcp = {{ command = [\"{time_command}\", \"--local-timezone\", \"UTC\"] }}\n\n[tools.clock]\nmcp = {{ command = [\"{time}\", \"--local-timezone\", \"UTC\"] }}\n\n[tools.clock.overrides.get_current_time]\napproval = \"required\"\n"
        )
    };
    let convert =
        json!({"source_timezone": "UTC", "time": "08:30", "target_timezone": "Europe/London"});
    let steps = script(&[
        &[("time__convert_time", convert)],
        &[("clock__get_current_time", json!({"timezone": "UTC"}))],
    ]);
    let scratch = researcher(&config(&time), &["time", "clock"], steps);
    let (run, out) = run_researcher(&scratch, &[]);
    assert_code(&out, 6);
    let policy = scratch.run_record(&run).policy.unwrap();
    assert_eq!(policy["tools"]["clock__get_current_time"]["approval"], true);
    assert_eq!(policy["tools"]["time__convert_time"]["approval"], false);
    let before = tool_answer(&scratch, &run, "time__convert_time").unwrap();
    // The server of the replayed call is gone; the approved one is there.
    std::fs::write(scratch.file("relive.toml"), {
        let text = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
        text.replace(&config(&time), &config("/nonexistent/mcp-server-time"))
    })
    .unwrap();
    assert_code(&scratch.run(&["approve", &run]), 0);
    let out = scratch.run(&["resume", &run]);
    assert_code(&out, 0);
    assert!(
        !stderr(&out).contains("MCP server `time`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        tool_answer(&scratch, &run, "time__convert_time").unwrap(),
        before
    );
    let now: Value =
        serde_json::from_str(&tool_answer(&scratch, &run, "clock__get_current_time").unwrap())
            .unwrap();
    assert_eq!(now["timezone"], "UTC", "{now}");
}

/// Issue 17: a server that breaks its word — an answer against its own
/// output schema, a result over the run's limit, a tool that vanished, a
/// call that never ends — gets an error that says so; the run goes on.
#[test]
fn a_server_that_lies_gets_clear_errors() {
    let Some(dir) = servers() else { return };
    let config = format!(
        "[limits]\nmax_call_bytes = 20000\n\n[tools.liar]\nmcp = {{ command = [\"{}\", \"{}\"] }}\ntimeout_secs = 1\n",
        python(&dir),
        fixture("liar.py")
    );
    // The slow call comes last, on its own: the liar answers one request
    // at a time, and would hold the others up.
    let steps = script(&[
        &[
            ("liar__echo", json!({"text": "fine"})),
            ("liar__weather", json!({})),
            ("liar__flood", json!({"bytes": 50000})),
            ("liar__vanish", json!({})),
        ],
        &[("liar__slow", json!({"secs": 5}))],
    ]);
    let scratch = researcher(&config, &["liar"], steps);
    let begun = Instant::now();
    let (run, out) = run_researcher(&scratch, &[]);
    assert_code(&out, 0);
    assert!(begun.elapsed() < Duration::from_secs(30));
    assert_eq!(
        tool_answer(&scratch, &run, "liar__echo").unwrap(),
        r#""fine""#
    );
    let expect = [
        (
            "liar__weather",
            "answered against its own output schema: at `/temperature` it has a string, where its schema says number",
        ),
        (
            "liar__flood",
            "over the limit of 20000 bytes per host call; raise `max_call_bytes`",
        ),
        (
            "liar__vanish",
            "MCP server `liar` no longer offers the tool `liar__vanish` (it offers: echo, weather, flood, slow)",
        ),
        ("liar__slow", "no answer within 1 s"),
    ];
    for (tool, message) in expect {
        let err = tool_answer(&scratch, &run, tool).unwrap_err();
        assert!(err.contains(message), "{tool}: {err}");
    }
}

/// Issue 17: a server that never finishes the handshake is given up after
/// `connect_timeout_secs`, and the error names the server and the key.
#[test]
fn a_server_that_never_answers_is_given_up() {
    let Some(dir) = servers() else { return };
    let config = format!(
        "[tools.mute]\nmcp = {{ command = [\"{}\", \"{}\", \"--mute\"], connect_timeout_secs = 1 }}\n",
        python(&dir),
        fixture("liar.py")
    );
    let scratch = researcher(&config, &["mute"], script(&[]));
    let begun = Instant::now();
    let out = scratch.run(&["run", "researcher", "--input", "go"]);
    assert_code(&out, 1);
    assert!(begun.elapsed() < Duration::from_secs(15));
    let err = stderr(&out);
    assert!(
        err.contains("cannot connect to MCP server `mute`") && err.contains("connect_timeout_secs"),
        "{err}"
    );
}
