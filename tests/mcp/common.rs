//! What the MCP tests share: the installed servers, a scratch folder with
//! a relive.toml and a model script, the HTTP server-everything, and the
//! processes of a stdio server, found by a mark in their environment.

use crate::support::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set to skip the MCP tests (e.g. where neither npm nor PyPI is reachable).
pub const SKIP_VAR: &str = "RELIVE_SKIP_MCP_TESTS";

/// The folder the servers are installed in (target/mcp-servers); `None`
/// when the tests are skipped. Installs them once per test process.
pub fn servers() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if std::env::var(SKIP_VAR).is_ok_and(|v| !v.is_empty() && v != "0") {
            eprintln!("{SKIP_VAR} is set: skipping the MCP tests");
            return None;
        }
        let dir = root().join("target/mcp-servers");
        let out = Command::new("bash")
            .arg(root().join("tests/mcp-servers/install.sh"))
            .arg(&dir)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "installing the MCP test servers failed (they come from npm and PyPI: tests/mcp-servers/install.sh); set {SKIP_VAR}=1 to skip these tests\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        Some(dir)
    })
    .clone()
}

/// `mcp-server-time` (PyPI), a stdio server.
pub fn time_server(dir: &std::path::Path) -> String {
    dir.join("venv/bin/mcp-server-time").display().to_string()
}

/// `server-everything` (npm), its bin script.
pub fn everything(dir: &std::path::Path) -> String {
    dir.join("npm/node_modules/.bin/mcp-server-everything")
        .display()
        .to_string()
}

/// The venv's Python (with the `mcp` SDK).
pub fn python(dir: &std::path::Path) -> String {
    dir.join("venv/bin/python").display().to_string()
}

/// A file of tests/mcp-servers.
pub fn fixture(name: &str) -> String {
    root()
        .join("tests/mcp-servers")
        .join(name)
        .display()
        .to_string()
}

/// A scratch folder whose relive.toml is `config` plus the scripted model
/// `scripted` (answering from `script`, a JSON document of replies) and
/// the agent `researcher`, granted `tools`.
pub fn researcher(config: &str, tools: &[&str], script: serde_json::Value) -> Scratch {
    let scratch = Scratch::new();
    let tools: Vec<String> = tools.iter().map(|t| format!("\"{t}\"")).collect();
    let text = format!(
        "[models.scripted]\nprovider = \"scripted\"\nscript = \"script.json\"\n\n{config}\n\n[agents.researcher]\ncomponent = \"{}\"\nmodels = [\"scripted\"]\ntools = [{}]\n",
        guest("researcher").display(),
        tools.join(", ")
    );
    std::fs::write(scratch.file("relive.toml"), text).unwrap();
    std::fs::write(scratch.file("script.json"), script.to_string()).unwrap();
    scratch
}

/// A model script: one reply per element of `steps`, each calling the
/// given tools (name, arguments) at once, then a final answer.
pub fn script(steps: &[&[(&str, serde_json::Value)]]) -> serde_json::Value {
    let mut replies: Vec<serde_json::Value> = steps
        .iter()
        .enumerate()
        .map(|(i, calls)| {
            let calls: Vec<serde_json::Value> = calls
                .iter()
                .enumerate()
                .map(|(j, (name, args))| {
                    serde_json::json!({"id": format!("call_{i}_{j}"), "name": name, "arguments": args})
                })
                .collect();
            serde_json::json!({"content": "", "tool_calls": calls})
        })
        .collect();
    replies.push(serde_json::json!({"content": "done"}));
    serde_json::json!({ "replies": replies })
}

/// The response of the run's tool entry `name`: `Ok` text or `Err` message.
pub fn tool_answer(scratch: &Scratch, run: &str, name: &str) -> Result<String, String> {
    let entry = scratch
        .entries(run)
        .into_iter()
        .find(|e| e.kind == relive::journal::EntryKind::Tool && e.name == name)
        .unwrap_or_else(|| panic!("run {run} has no tool entry {name}"));
    let response: serde_json::Value =
        serde_json::from_str(entry.response.as_deref().expect("completed")).unwrap();
    match (&response["Ok"], &response["Err"]) {
        (serde_json::Value::String(ok), _) => Ok(ok.clone()),
        (_, err) => Err(err["message"].as_str().unwrap_or_default().to_string()),
    }
}

/// `relive run researcher` in `scratch` with `env`; returns the run's id
/// and the output.
pub fn run_researcher(scratch: &Scratch, env: &[(&str, &str)]) -> (String, std::process::Output) {
    let mut cmd = scratch.relive();
    cmd.args(["run", "researcher", "--input", "go", "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let run = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|j| j["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no run id in:\n{}\n{}", stdout(&out), stderr(&out)));
    (run, out)
}

/// A free port on 127.0.0.1 (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// server-everything over streamable HTTP on 127.0.0.1 (its `listen` is
/// pinned to loopback by `loopback.cjs`); killed when dropped.
pub struct HttpEverything {
    child: Child,
    pub url: String,
}

impl HttpEverything {
    pub fn start(dir: &std::path::Path) -> HttpEverything {
        HttpEverything::start_on(dir, free_port())
    }

    /// On `port` (to start it again where it was).
    pub fn start_on(dir: &std::path::Path, port: u16) -> HttpEverything {
        let script =
            dir.join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
        let child = Command::new("node")
            .arg(script)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .env(
                "NODE_OPTIONS",
                format!("--require {}", fixture("loopback.cjs")),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let begun = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                begun.elapsed() < Duration::from_secs(30),
                "server-everything did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        HttpEverything {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }
}

impl Drop for HttpEverything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The variable that marks a test's stdio servers: pass it through `env`,
/// and [`marked`] finds their processes.
pub const MARK: &str = "RELIVE_MCP_TEST_MARK";

/// A fresh value for [`MARK`].
pub fn new_mark() -> String {
    format!(
        "mark-{}-{}",
        std::process::id(),
        relive::journal::new_run_id()
    )
}

/// The processes but relive itself whose environment holds `MARK=mark`:
/// the stdio servers a relive started with that mark.
pub fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("{MARK}={mark}");
    let relive = std::fs::canonicalize(env!("CARGO_BIN_EXE_relive")).unwrap();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == relive) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits until no process holds `mark`; panics after `within`.
pub fn wait_none_marked(mark: &str, within: Duration) {
    let begun = Instant::now();
    loop {
        let left = marked(mark);
        if left.is_empty() {
            return;
        }
        assert!(
            begun.elapsed() < within,
            "the MCP server's processes {left:?} are still alive after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGKILL to `pid` (a process our relive started).
pub fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}
