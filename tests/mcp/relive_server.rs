//! relive as an MCP server: `relive mcp` on stdio, driven by a real MCP
//! client (the official Python SDK) through the scenario of
//! tests/mcp-servers/drive_relive.py.

use crate::common::*;
use crate::support::*;
use serde_json::Value;

/// Checks what drive_relive.py printed: every tool, every answer.
pub fn check_scenario(out: &Value) {
    assert_eq!(out["server"], "relive");
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "approve",
            "cancel_run",
            "list_agents",
            "list_runs",
            "reject",
            "show_run",
            "signal",
            "start_run"
        ]
    );
    assert_eq!(
        out["read_only"],
        serde_json::json!(["list_agents", "list_runs", "show_run"])
    );
    assert_eq!(out["agents"]["result"]["agents"][0]["name"], "waiter");
    let started = &out["start_signal"]["result"];
    assert_eq!(started["status"], "suspended", "{out}");
    assert_eq!(started["waiting"]["kind"], "signal");
    assert_eq!(started["waiting"]["name"], "go");
    let signalled = &out["signal"]["result"];
    assert_eq!(signalled["status"], "completed", "{out}");
    assert_eq!(signalled["output"], r#"got {"n":1}"#);
    assert_eq!(out["start_reject"]["result"]["waiting"]["kind"], "approval");
    assert_eq!(
        out["reject"]["result"]["output"], "rejected: not today",
        "{out}"
    );
    assert_eq!(out["approve"]["result"]["output"], "approved", "{out}");
    let again = out["approve_again"]["error"].as_str().unwrap();
    assert!(again.contains("already answered"), "{again}");
    assert_eq!(out["list"]["result"]["runs"].as_array().unwrap().len(), 3);
    let shown = &out["show"]["result"];
    assert_eq!(shown["status"], "completed");
    let entries = shown["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["kind"] == "approval"), "{shown}");
    let unknown = out["show_unknown"]["error"].as_str().unwrap();
    assert!(unknown.contains("nosuchrun"), "{unknown}");
    let nobody = out["start_unknown"]["error"].as_str().unwrap();
    assert!(
        nobody.contains("no agent `nobody`") && nobody.contains("waiter"),
        "{nobody}"
    );
}

/// Issue 17: an MCP client starts `relive mcp` as its stdio server and
/// drives runs through it: start, signal, approve, reject, list, show.
/// What it did is in the journal, answered `by: "mcp"`.
#[test]
fn an_mcp_client_drives_relive_mcp_over_stdio() {
    let Some(dir) = servers() else { return };
    let scratch = Scratch::new();
    std::fs::write(
        scratch.file("relive.toml"),
        format!(
            "[agents.waiter]\ncomponent = \"{}\"\n",
            guest("waiter").display()
        ),
    )
    .unwrap();
    let relive = env!("CARGO_BIN_EXE_relive");
    let out = std::process::Command::new(python(&dir))
        .args([&fixture("drive_relive.py"), "stdio", relive, "mcp"])
        .args(["--config", scratch.file("relive.toml").to_str().unwrap()])
        .args(["--db", scratch.db().to_str().unwrap()])
        .env("RELIVE_CACHE_DIR", root().join("target/relive-test-cache"))
        .output()
        .unwrap();
    assert_code(&out, 0);
    let answers = json(&out);
    check_scenario(&answers);
    let approved = answers["approve"]["result"]["id"].as_str().unwrap();
    let entry = &scratch.entries(approved)[0];
    assert!(
        entry.response.as_deref().unwrap().contains(r#""by":"mcp""#),
        "{entry:?}"
    );
}
