//! `relive serve` and MCP: one stdio server process shared by every run,
//! started again when it died, ended at shutdown; and relive's own MCP
//! endpoint at `/mcp`, behind the API's token.

use crate::common::*;
use crate::support::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A running `relive serve` on a free port of 127.0.0.1.
struct Served {
    child: Child,
    base: String,
    token: Option<String>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    fn start(scratch: &Scratch, env: &[(&str, &str)]) -> Served {
        let mut cmd = scratch.relive();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--grace-secs", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving on http://").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap().to_string());
                }
                lines.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("relive serve starts");
        let token = env
            .iter()
            .find(|(k, _)| *k == "RELIVE_TOKEN")
            .map(|(_, v)| v.to_string());
        Served {
            child,
            base: format!("http://{addr}"),
            token,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let token = self.token.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let mut req = reqwest::Client::new().request(method.parse().unwrap(), url);
                if let Some(token) = token {
                    req = req.bearer_auth(token);
                }
                if let Some(body) = body {
                    req = req.json(&body);
                }
                req.send().await.unwrap().json::<Value>().await.unwrap()
            })
    }

    /// Starts a run of the researcher and waits for its end.
    fn run_to_end(&self) -> Value {
        let run = self.request(
            "POST",
            "/v1/runs",
            Some(json!({"agent": "researcher", "input": "go"})),
        );
        let id = run["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{run}"))
            .to_string();
        let begun = Instant::now();
        loop {
            let run = self.request("GET", &format!("/v1/runs/{id}"), None);
            if matches!(run["status"].as_str(), Some("completed" | "failed")) {
                return run;
            }
            assert!(
                begun.elapsed() < Duration::from_secs(60),
                "{run}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGTERM; waits for the exit.
    fn terminate(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let begun = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                begun.elapsed() < Duration::from_secs(30),
                "relive serve did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 17: runs of a service share one server process; a server that
/// died is started again for the next call; SIGTERM ends it.
#[test]
fn the_service_shares_one_server_restarts_it_and_stops_it() {
    let Some(dir) = servers() else { return };
    let config = format!(
        "[tools.every]\nmcp = {{ command = [\"{}\", \"stdio\"], env = {{ {MARK} = \"{MARK}\" }} }}\nallow = [\"echo\"]\n",
        everything(&dir)
    );
    let scratch = researcher(
        &config,
        &["every"],
        script(&[&[("every__echo", json!({"message": "hi"}))]]),
    );
    let mark = new_mark();
    let served = Served::start(&scratch, &[(MARK, &mark)]);
    for _ in 0..3 {
        let run = served.run_to_end();
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            tool_answer(&scratch, run["id"].as_str().unwrap(), "every__echo").unwrap(),
            r#""Echo: hi""#
        );
    }
    let first = marked(&mark);
    assert_eq!(
        first.len(),
        1,
        "one server process for three runs: {first:?}\n{}",
        served.log()
    );
    kill9(first[0]);
    wait_none_marked(&mark, Duration::from_secs(10));
    let run = served.run_to_end();
    assert_eq!(run["status"], "completed", "{run}\n{}", served.log());
    let second = marked(&mark);
    assert_eq!(
        second.len(),
        1,
        "one new server process: {second:?} (first {first:?})\n{}",
        served.log()
    );
    assert_ne!(second, first, "a new server process");
    // Whether the pool sees the dead process before the call or the call
    // finds the connection broken is a race; both restart it and say so.
    let log = served.log();
    assert!(
        log.contains("has gone away; starting it again")
            || log.contains("the connection broke (Transport closed); the server is started"),
        "{log}"
    );
    served.terminate();
    wait_none_marked(&mark, Duration::from_secs(10));
}

/// Issue 17: an MCP client (the Python SDK, over streamable HTTP) drives
/// relive through `/mcp` of `relive serve`, with the API's token; without
/// the token it is refused.
#[test]
fn an_mcp_client_drives_relive_serve_over_http() {
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
    let served = Served::start(&scratch, &[("RELIVE_TOKEN", "t0ken-for-mcp")]);
    let url = format!("{}/mcp", served.base);
    let out = std::process::Command::new(python(&dir))
        .args([&fixture("drive_relive.py"), "http", &url, "t0ken-for-mcp"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    crate::relive_server::check_scenario(&json(&out));
    // The same initialize with a wrong token is refused before MCP sees it.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let status = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            reqwest::Client::new()
                .post(&url)
                .bearer_auth("wrong")
                .header("accept", "application/json, text/event-stream")
                .json(&initialize)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    assert_eq!(status, 401);
    served.terminate();
}

/// Issue 17: an HTTP server that restarts (its sessions lost) is connected
/// to again; an idempotent call is made again on the new connection
/// instead of failing.
#[test]
fn the_service_reconnects_to_an_http_server_that_restarted() {
    let Some(dir) = servers() else { return };
    let server = HttpEverything::start(&dir);
    let port = server
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let config = format!(
        "[tools.every]\nmcp = {{ url = \"{}\" }}\nallow = [\"echo\"]\ntimeout_secs = 2\n",
        server.url
    );
    let scratch = researcher(
        &config,
        &["every"],
        script(&[&[("every__echo", json!({"message": "hi"}))]]),
    );
    let served = Served::start(&scratch, &[]);
    let run = served.run_to_end();
    assert_eq!(run["status"], "completed", "{run}");
    drop(server);
    let _again = HttpEverything::start_on(&dir, port.parse().unwrap());
    let begun = Instant::now();
    let run = served.run_to_end();
    assert_eq!(run["status"], "completed", "{run}");
    let id = run["id"].as_str().unwrap();
    assert_eq!(
        tool_answer(&scratch, id, "every__echo").unwrap(),
        r#""Echo: hi""#,
        "{}",
        served.log()
    );
    eprintln!("the call after the restart took {:?}", begun.elapsed());
    served.terminate();
}
