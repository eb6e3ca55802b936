//! `relive serve`: the real binary as a service on 127.0.0.1, driven over
//! HTTP; killed with SIGKILL under load and started again; stopped with
//! SIGTERM.
//!
//! Why this file is long: it holds the `Served` harness and its HTTP
//! helpers, which agents.rs, hardening.rs, postgres.rs and web_ui.rs use
//! too, beside the service's own scenarios (load and SIGKILL, timers,
//! approvals over SSE, shutdown, tokens, uploads, cancel, paging, OpenAPI).

use crate::support::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running `relive serve`.
pub struct Served {
    child: Option<Child>,
    pub base: String,
    log: PathBuf,
    /// The `RELIVE_TOKEN` it was started with: `get`, `post` and
    /// `wait_run` send it.
    token: Option<String>,
}

impl Served {
    /// Starts `relive serve` in `scratch` on a free port with `args`;
    /// returns once it listens.
    pub fn start(scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Served {
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = scratch.file(&format!("serve-{}.log", N.fetch_add(1, Ordering::Relaxed)));
        let mut cmd = scratch.relive();
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("relive serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log_path).unwrap();
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(file, "{line}");
                if !sent && let Some(rest) = line.split("serving on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap().to_string();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("relive serve did not start:\n{}", read(&log)));
        Served {
            child: Some(child),
            base: format!("http://{addr}"),
            log,
            token: env
                .iter()
                .find(|(k, _)| *k == "RELIVE_TOKEN")
                .map(|(_, v)| v.to_string()),
        }
    }

    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The process id, or 0 once it was killed.
    pub fn pid_or_zero(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        read(&self.log)
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM; waits (bounded) for the exit and returns its code.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        signal(child.id(), "TERM");
        let begun = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if begun.elapsed() > within {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("relive serve did not stop within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The example `name` in a scratch folder, its relive.toml pointing at the
/// component built from source.
pub fn example(name: &str) -> Scratch {
    let scratch = Scratch::example(name);
    let wasm = guest(name);
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let config: String = config
        .lines()
        .map(|l| {
            if l.starts_with("component = ") {
                // Each agent's own component, built from source.
                let stem = l
                    .rsplit('/')
                    .next()
                    .and_then(|f| f.strip_suffix(".wasm\""))
                    .unwrap_or(name);
                let wasm = if stem == name {
                    wasm.clone()
                } else {
                    guest(stem)
                };
                format!("component = \"{}\"", wasm.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    // Examples that use another example's files (the dispatcher and the
    // planner use the researcher's) reach them in the repository.
    let config = config.replace(
        "\"../",
        &format!("\"{}/", root().join("examples").display()),
    );
    std::fs::write(scratch.file("relive.toml"), config + "\n").unwrap();
    scratch
}

/// One HTTP request; returns the status and the JSON body (Null if none).
pub fn http(method: &str, url: &str, body: Option<Value>, token: Option<&str>) -> (u16, Value) {
    block(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request is sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub fn get(s: &Served, path: &str) -> Value {
    let (code, body) = http("GET", &s.url(path), None, s.token.as_deref());
    assert_eq!(code, 200, "GET {path}: {body}");
    body
}

pub fn post(s: &Served, path: &str, body: Value) -> Value {
    let (code, resp) = http("POST", &s.url(path), Some(body), s.token.as_deref());
    assert!(code == 200 || code == 201, "POST {path}: {code} {resp}");
    resp
}

/// Polls `GET /v1/runs/{id}` until `done` holds (bounded).
pub fn wait_run(s: &Served, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let begun = Instant::now();
    loop {
        let run = get(s, &format!("/v1/runs/{id}"));
        if done(&run) {
            return run;
        }
        assert!(
            begun.elapsed() < within,
            "run {id} did not get there within {within:?}: {run}\nservice log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub fn is_final(run: &Value) -> bool {
    matches!(
        run["status"].as_str(),
        Some("completed" | "failed" | "diverged" | "cancelled")
    )
}

// ---------------------------------------------------------------------------
// The LLM test server for the load test: an OpenAI-compatible endpoint that
// answers after 50 ms. Each run asks three searches, then answers with a
// digest of what the searches found, so the output depends on every tool
// result and every earlier answer.

#[derive(Default)]
pub struct Llm {
    pub requests: AtomicUsize,
}

async fn completions(
    axum::extract::State(llm): axum::extract::State<Arc<Llm>>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    llm.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let messages = body["messages"].as_array().unwrap();
    let question = messages
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let results: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str())
        .collect();
    let message = if results.len() < 3 {
        let topics = [
            "durable execution",
            "replay journal",
            "idempotency key crash",
        ];
        let query = format!("{} {}", topics[results.len()], question);
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": format!("call_{}", results.len()),
                "type": "function",
                "function": { "name": "search", "arguments": json!({ "query": query }).to_string() }
            }]
        })
    } else {
        let digest = relive::journal::digest_hex(results.join("|").as_bytes());
        json!({ "role": "assistant", "content": format!("{question} => {}", &digest[..16]) })
    };
    axum::Json(json!({
        "id": "chatcmpl-load",
        "model": "load-model",
        "choices": [{ "index": 0, "message": message, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 5 }
    }))
}

/// The researcher example, its model replaced by the test server.
pub fn researcher_scratch(llm: Arc<Llm>) -> Scratch {
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state(llm);
    let base_url = format!("{}/v1", serve(app));
    let scratch = example("researcher");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let config = config.replace("models = [\"scripted\"]", "models = [\"remote\"]")
        + &format!(
            "\n[models.remote]\nprovider = \"openai\"\nbase_url = \"{base_url}\"\nmodel = \"load-model\"\nstream = false\n"
        );
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    scratch
}

/// Creates `n` researcher runs; returns question → run id.
fn create_runs(s: &Served, n: usize, tag: &str) -> BTreeMap<String, String> {
    (0..n)
        .map(|i| {
            let question = format!("question {i} of {tag}");
            let run = post(
                s,
                "/v1/runs",
                json!({ "agent": "researcher", "input": question }),
            );
            (question, run["id"].as_str().unwrap().to_string())
        })
        .collect()
}

fn wait_all_final(s: &Served, ids: &[String], within: Duration) {
    let begun = Instant::now();
    loop {
        let runs = get(s, "/v1/runs?limit=1000");
        let by_id: HashMap<&str, &Value> = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_str().unwrap(), r))
            .collect();
        let pending = ids
            .iter()
            .filter(|id| !by_id.get(id.as_str()).is_some_and(|r| is_final(r)))
            .count();
        if pending == 0 {
            return;
        }
        assert!(
            begun.elapsed() < within,
            "{pending} runs not finished within {within:?}\nservice log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every tool execution logged by search.sh: idempotency key → count.
fn executions(log: &std::path::Path) -> HashMap<String, usize> {
    first_word_counts(log)
}

#[test]
fn two_hundred_runs_survive_a_sigkill_of_the_service() {
    const RUNS: usize = 200;
    let llm = Arc::new(Llm::default());
    let scratch = researcher_scratch(llm.clone());
    let search_log = scratch.file("search.log");
    let search_env = [("SEARCH_LOG", search_log.to_str().unwrap())];

    // The same 200 questions, uninterrupted, in a journal of their own.
    let baseline = Scratch::example("researcher");
    std::fs::copy(scratch.file("relive.toml"), baseline.file("relive.toml")).unwrap();
    let expected: BTreeMap<String, String> = {
        let s = Served::start(&baseline, &["--max-runs", "200"], &[]);
        let runs = create_runs(&s, RUNS, "load");
        let ids: Vec<String> = runs.values().cloned().collect();
        wait_all_final(&s, &ids, Duration::from_secs(120));
        runs.into_iter()
            .map(|(q, id)| {
                let run = get(&s, &format!("/v1/runs/{id}"));
                assert_eq!(run["status"], "completed", "{run}");
                (q, run["output"].as_str().unwrap().to_string())
            })
            .collect()
    };

    // Under load, killed with SIGKILL once about a third of the LLM calls
    // (4 per run) were answered.
    let mut s = Served::start(&scratch, &["--max-runs", "200"], &search_env);
    let before = llm.requests.load(Ordering::Relaxed);
    let runs = create_runs(&s, RUNS, "load");
    let begun = Instant::now();
    while llm.requests.load(Ordering::Relaxed) - before < RUNS * 4 / 3 {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "the load never got going"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    s.kill9();
    // What was durable at the kill: every completed tool call's key.
    let journal = scratch.journal();
    let mut completed_at_kill = HashSet::new();
    let mut finished_at_kill = 0;
    for id in runs.values() {
        if journal.find_run(id).unwrap().status.is_final() {
            finished_at_kill += 1;
        }
        for e in journal.entries(id).unwrap() {
            if e.kind == relive::journal::EntryKind::Tool
                && e.state == relive::journal::EntryState::Completed
            {
                completed_at_kill.insert(relive::engine::idempotency_key(id, e.seq));
            }
        }
    }
    drop(journal);
    assert!(
        finished_at_kill < RUNS,
        "every run finished before the kill; the kill was not under load"
    );
    assert!(
        !completed_at_kill.is_empty(),
        "no tool call had completed at the kill"
    );

    // Started again: every run completes, with the uninterrupted output.
    let s = Served::start(&scratch, &["--max-runs", "200"], &search_env);
    let ids: Vec<String> = runs.values().cloned().collect();
    wait_all_final(&s, &ids, Duration::from_secs(120));
    for (question, id) in &runs {
        let run = get(&s, &format!("/v1/runs/{id}"));
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            run["output"].as_str().unwrap(),
            expected[question],
            "run {id} ({question}) differs from the uninterrupted run"
        );
    }
    // No tool call that had completed before the kill ran again.
    let counts = executions(&search_log);
    for key in &completed_at_kill {
        assert_eq!(
            counts.get(key),
            Some(&1),
            "tool call {key} completed before the kill but ran {:?} times",
            counts.get(key)
        );
    }
    // And every tool call of the final journals ran.
    let journal = scratch.journal();
    let mut tool_calls = 0;
    for id in runs.values() {
        for e in journal.entries(id).unwrap() {
            if e.kind == relive::journal::EntryKind::Tool {
                tool_calls += 1;
                let key = relive::engine::idempotency_key(id, e.seq);
                assert!(counts.contains_key(&key), "{key} never ran");
            }
        }
    }
    assert_eq!(tool_calls, RUNS * 3);
    assert!(s.log().contains("serving on"), "{}", s.log());
}

#[test]
fn approval_through_the_api_and_events_in_order() {
    let scratch = example("approver");
    let outbox = scratch.file("outbox.log");
    let s = Served::start(&scratch, &[], &[("OUTBOX", outbox.to_str().unwrap())]);
    let run = post(
        &s,
        "/v1/runs",
        json!({ "agent": "approver", "input": "deploy done" }),
    );
    let id = run["id"].as_str().unwrap().to_string();
    let run = wait_run(&s, &id, Duration::from_secs(30), |r| {
        r["status"] == "suspended"
    });
    assert_eq!(run["waiting"]["kind"], "approval", "{run}");
    assert!(
        !outbox.exists() || read(&outbox).is_empty(),
        "sent before approval"
    );

    // Subscribe to the events, then approve; the stream ends with `end`.
    let events_url = s.url(&format!("/v1/runs/{id}/events"));
    let reader = std::thread::spawn(move || sse_events(&events_url, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(200));
    // A wrong answer is refused with a stable code.
    let (code, body) = http(
        "POST",
        &s.url(&format!("/v1/runs/{id}/signals/go")),
        Some(json!({})),
        None,
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let (code, body) = http(
        "POST",
        &s.url(&format!("/v1/runs/{id}/reject")),
        Some(json!({})),
        None,
    );
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    post(
        &s,
        &format!("/v1/runs/{id}/approve"),
        json!({ "note": "fine", "by": "test" }),
    );
    let run = wait_run(&s, &id, Duration::from_secs(30), is_final);
    assert_eq!(run["status"], "completed", "{run}");
    let sent = read(&outbox);
    assert_eq!(sent.lines().count(), 1, "{sent}");
    // A second approval is refused.
    let (code, body) = http(
        "POST",
        &s.url(&format!("/v1/runs/{id}/approve")),
        Some(json!({})),
        None,
    );
    assert_eq!(code, 409, "{body}");

    let events = reader.join().unwrap();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"end"), "{names:?}");
    // Entries arrive in order: each seq once started (live calls) and once
    // completed, never going back.
    let mut last_completed: Option<u64> = None;
    let mut seen = Vec::new();
    for (name, data) in &events {
        if name != "entry" {
            continue;
        }
        let seq = data["seq"].as_u64().unwrap();
        if data["state"] == "completed" {
            assert!(
                last_completed.is_none_or(|l| seq == l + 1),
                "{names:?}: {seq} after {last_completed:?}"
            );
            last_completed = Some(seq);
            seen.push(data.clone());
        } else {
            assert!(
                last_completed.is_none_or(|l| seq == l + 1),
                "started {seq} after {last_completed:?}"
            );
        }
    }
    let entries = get(&s, &format!("/v1/runs/{id}/entries"))["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        seen.len(),
        entries.len(),
        "every entry arrived once completed"
    );
    for (got, want) in seen.iter().zip(&entries) {
        assert_eq!(got["seq"], want["seq"]);
        assert_eq!(got["kind"], want["kind"]);
        assert_eq!(got["name"], want["name"]);
        assert_eq!(got["request"], want["request"]);
        assert_eq!(got["response"], want["response"]);
    }
    let approval = entries.iter().find(|e| e["kind"] == "approval").unwrap();
    let answer: Value = serde_json::from_str(approval["response"].as_str().unwrap()).unwrap();
    assert_eq!(
        (answer["decision"].as_str(), answer["by"].as_str()),
        (Some("approved"), Some("test"))
    );
}

/// Reads a server-sent event stream until `end` (bounded); returns
/// (event, data) pairs.
pub fn sse_events(url: &str, within: Duration) -> Vec<(String, Value)> {
    sse_events_timed(url, within)
        .into_iter()
        .map(|(name, data, _)| (name, data))
        .collect()
}

/// Same as [`sse_events`], with when each event arrived (Unix ms).
pub fn sse_events_timed(url: &str, within: Duration) -> Vec<(String, Value, i64)> {
    block(async {
        let mut resp = reqwest::Client::new().get(url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut buffer = String::new();
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let chunk = tokio::time::timeout_at(deadline, resp.chunk())
                .await
                .expect("the event stream ended within the time")
                .unwrap();
            let Some(chunk) = chunk else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = n.trim().to_string();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                let done = name == "end";
                let at = relive::journal::now_ms();
                events.push((name, serde_json::from_str(&data).unwrap(), at));
                if done {
                    return events;
                }
            }
        }
        events
    })
}

#[test]
fn a_timer_comes_due_while_the_service_runs() {
    let scratch = Scratch::new();
    let waiter = guest("waiter");
    std::fs::write(
        scratch.file("relive.toml"),
        format!("[agents.waiter]\ncomponent = \"{}\"\n", waiter.display()),
    )
    .unwrap();
    let s = Served::start(&scratch, &[], &[]);
    let run = post(
        &s,
        "/v1/runs",
        json!({ "agent": "waiter", "input": "sleep 1500" }),
    );
    let id = run["id"].as_str().unwrap().to_string();
    let run = wait_run(&s, &id, Duration::from_secs(30), |r| {
        r["status"] != "running"
    });
    assert_eq!(run["status"], "suspended", "{run}");
    assert_eq!(run["waiting"]["kind"], "timer");
    let due = run["waiting"]["until_ms"].as_i64().unwrap();
    let run = wait_run(&s, &id, Duration::from_secs(30), is_final);
    assert_eq!(
        (run["status"].as_str(), run["output"].as_str()),
        (Some("completed"), Some("slept")),
        "{run}"
    );
    let entries = scratch.entries(&id);
    let timer = entries
        .iter()
        .find(|e| e.kind == relive::journal::EntryKind::Timer)
        .unwrap();
    let woke: Value = serde_json::from_str(timer.response.as_deref().unwrap()).unwrap();
    assert_eq!(woke["early"], false, "{woke}");
    assert!(woke["woke_at_ms"].as_i64().unwrap() >= due);

    // A signal through the API wakes a run waiting for it.
    let run = post(
        &s,
        "/v1/runs",
        json!({ "agent": "waiter", "input": "signal go" }),
    );
    let id = run["id"].as_str().unwrap().to_string();
    wait_run(&s, &id, Duration::from_secs(30), |r| {
        r["status"] == "suspended"
    });
    post(
        &s,
        &format!("/v1/runs/{id}/signals/go"),
        json!({ "data": { "n": 7 } }),
    );
    let run = wait_run(&s, &id, Duration::from_secs(30), is_final);
    assert_eq!(run["output"], "got {\"n\":7}", "{run}");
}

#[test]
fn sigterm_lets_runs_finish_their_call_and_a_restart_resumes_them() {
    let scratch = example("stepper");
    let tally = scratch.file("tally.log");
    let env = [("TALLY_FILE", tally.to_str().unwrap())];
    let mut s = Served::start(&scratch, &[], &env);
    let ids: Vec<String> = (0..4)
        .map(|_| {
            post(
                &s,
                "/v1/runs",
                json!({ "agent": "stepper", "input": "400" }),
            )["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // Let them get going, then SIGTERM.
    let begun = Instant::now();
    while read(&tally).lines().count() < 40 {
        assert!(begun.elapsed() < Duration::from_secs(60), "{}", s.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    let code = s.terminate(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", s.log());
    let log = s.log();
    assert!(log.contains("SIGTERM received"), "{log}");
    // Left running, with no lease and no call left half done.
    let journal = scratch.journal();
    let mut unfinished = 0;
    for id in &ids {
        let run = journal.find_run(id).unwrap();
        if run.status.is_final() {
            continue;
        }
        unfinished += 1;
        assert_eq!(run.status, relive::journal::RunStatus::Running);
        assert_eq!(journal.lease(id).unwrap(), None, "the lease was given up");
        let entries = journal.entries(id).unwrap();
        assert!(
            entries
                .iter()
                .all(|e| e.state == relive::journal::EntryState::Completed),
            "a call was left in flight"
        );
    }
    assert!(
        unfinished > 0,
        "every run finished before SIGTERM took effect"
    );
    drop(journal);
    let check = rusqlite_integrity(&scratch.db());
    assert_eq!(check, "ok");

    // Started again, the runs carry on and every step ran exactly once.
    let s = Served::start(&scratch, &[], &env);
    wait_all_final(&s, &ids, Duration::from_secs(120));
    for id in &ids {
        assert_eq!(get(&s, &format!("/v1/runs/{id}"))["status"], "completed");
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in read(&tally).lines() {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 4 * 400, "every step of every run ran");
    assert!(counts.values().all(|&n| n == 1), "a step ran twice");
}

fn rusqlite_integrity(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_token_guards_the_api_and_is_required_off_loopback() {
    let scratch = example("stepper");
    let s = Served::start(&scratch, &[], &[("RELIVE_TOKEN", "s3cret-token")]);
    let (code, body) = http("GET", &s.url("/v1/runs"), None, None);
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (code, _) = http("GET", &s.url("/v1/runs"), None, Some("wrong"));
    assert_eq!(code, 401);
    let (code, body) = http("GET", &s.url("/v1/runs"), None, Some("s3cret-token"));
    assert_eq!(code, 200, "{body}");
    let (code, _) = http("GET", &s.url("/v1/runs?token=s3cret-token"), None, None);
    assert_eq!(code, 200, "EventSource-style token in the query");
    // Health and the UI's files need no token; the UI asks for it.
    assert_eq!(http("GET", &s.url("/healthz"), None, None).0, 200);
    // Unknown routes and bad input: JSON errors with stable codes.
    let (code, body) = http("GET", &s.url("/v1/nope"), None, Some("s3cret-token"));
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (code, body) = http(
        "POST",
        &s.url("/v1/runs"),
        Some(json!({ "agent": "nobody" })),
        Some("s3cret-token"),
    );
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stepper"),
        "{body}"
    );
    let (code, body) = http(
        "GET",
        &s.url("/v1/runs/zzzzzzzz"),
        None,
        Some("s3cret-token"),
    );
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // Off loopback without a token: refused before listening.
    let out = scratch
        .relive()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_code(&out, 1);
    assert!(stderr(&out).contains("without a token"), "{}", stderr(&out));
}

#[test]
fn components_upload_runs_and_cancel() {
    let scratch = example("stepper");
    let wasm = std::fs::read(guest("stepper")).unwrap();
    let s = Served::start(&scratch, &[], &[]);
    // Upload: registered by digest.
    let resp = block(async {
        reqwest::Client::new()
            .post(s.url("/v1/components"))
            .header("content-type", "application/wasm")
            .body(wasm.clone())
            .send()
            .await
            .unwrap()
    });
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = block(resp.json()).unwrap();
    let digest = body["digest"].as_str().unwrap().to_string();
    assert_eq!(digest, relive::journal::component_digest(&wasm));
    let list = get(&s, "/v1/components");
    assert!(
        list["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["digest"] == digest.as_str())
    );
    // A malformed component is refused with its own code.
    let resp = block(async {
        reqwest::Client::new()
            .post(s.url("/v1/components"))
            .header("content-type", "application/wasm")
            .body(b"\0asm-not-really".to_vec())
            .send()
            .await
            .unwrap()
    });
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = block(resp.json()).unwrap();
    assert_eq!(body["error"]["code"], "invalid_component");

    // A run of the uploaded digest; then a long run, cancelled.
    let run = post(
        &s,
        "/v1/runs",
        json!({ "agent": "stepper", "input": "3", "component": digest }),
    );
    let done = wait_run(
        &s,
        run["id"].as_str().unwrap(),
        Duration::from_secs(30),
        is_final,
    );
    assert_eq!(done["status"], "completed", "{done}");
    let run = post(
        &s,
        "/v1/runs",
        json!({ "agent": "stepper", "input": "100000" }),
    );
    let id = run["id"].as_str().unwrap().to_string();
    wait_run(&s, &id, Duration::from_secs(30), |r| {
        r["entries"].as_u64().unwrap_or(0) > 10
    });
    let cancelled = post(
        &s,
        &format!("/v1/runs/{id}/cancel"),
        json!({ "reason": "too long" }),
    );
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancelled["error"].as_str().unwrap().contains("too long"));
    let entries = cancelled["entries"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let later = get(&s, &format!("/v1/runs/{id}"));
    assert_eq!(later["status"], "cancelled");
    assert_eq!(
        later["entries"].as_u64().unwrap(),
        entries,
        "the run went on after cancel"
    );
    let (code, _) = http("POST", &s.url(&format!("/v1/runs/{id}/cancel")), None, None);
    assert_eq!(code, 409, "a cancelled run cannot be cancelled again");
    // Filters.
    let cancelled = get(&s, "/v1/runs?status=cancelled");
    assert_eq!(cancelled["runs"].as_array().unwrap().len(), 1);
    let (code, body) = http("GET", &s.url("/v1/runs?status=bogus"), None, None);
    assert_eq!(code, 400, "{body}");
    // Pages (issue 12.5): newest first; `next` is the cursor of the page
    // after, and null on the last.
    let page = |query: &str| {
        let page = get(&s, &format!("/v1/runs?limit=1{query}"));
        let ids: Vec<Value> = page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect();
        (ids, page["next"].clone())
    };
    let (first, next) = page("");
    assert_eq!(first, vec![json!(id)]);
    assert_eq!(next, json!(id));
    let (second, next) = page(&format!("&before={id}"));
    assert_eq!(second, vec![done["id"].clone()]);
    let (third, next) = page(&format!("&before={}", next.as_str().unwrap()));
    assert!(third.is_empty() && next.is_null(), "{third:?} {next}");
}

/// The routes the router really has, read from the code that builds it
/// (`server/api.rs`): every `.route("PATH", get(..).post(..))`, and the MCP
/// endpoint `server/mcp.rs` nests.
fn router_routes() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(root().join("host/src/server/api.rs")).unwrap();
    let body = &source[source
        .find("pub fn router(")
        .expect("the router is built in api.rs")..];
    let body = &body[..body.find("\n}\n").unwrap()];
    let mut routes = BTreeSet::new();
    for part in body.split(".route(").skip(1) {
        let path = part.split('"').nth(1).unwrap().to_string();
        // The handlers: up to the end of this call (its parentheses balance).
        let mut depth = 1;
        let end = part
            .char_indices()
            .find(|(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap();
        let call = &part[..end];
        for method in ["get", "post", "put", "patch", "delete"] {
            let at_start =
                call.contains(&format!(" {method}(")) || call.contains(&format!("\n{method}("));
            if at_start
                || call.contains(&format!(".{method}("))
                || call.contains(&format!(", {method}("))
            {
                routes.insert((method.to_string(), path.clone()));
            }
        }
    }
    // relive's MCP server (`server/mcp.rs`) is nested beside the API: MCP's
    // streamable HTTP transport answers POST, GET and DELETE on its path.
    let mcp = std::fs::read_to_string(root().join("host/src/server/mcp.rs")).unwrap();
    for part in mcp.split(".nest_service(").skip(1) {
        let path = part.split('"').nth(1).unwrap().to_string();
        for method in ["post", "get", "delete"] {
            routes.insert((method.to_string(), path.clone()));
        }
    }
    routes
}

/// Issue 12.10: the OpenAPI document lists exactly the router's routes, and
/// every documented route answers on a running service (no "no route", no
/// 405).
#[test]
fn openapi_matches_the_real_routes() {
    let doc: Value = serde_json::from_str(relive::server::OPENAPI).expect("openapi.json parses");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(|m| (m.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let routes = router_routes();
    assert!(
        routes.len() >= 10,
        "the router's routes were not found: {routes:?}"
    );
    assert_eq!(
        documented, routes,
        "openapi.json and the router differ (left: documented, right: routed)"
    );
    let scratch = example("stepper");
    let s = Served::start(&scratch, &[], &[]);
    for (method, path) in &documented {
        let url = s.url(&path.replace("{id}", "zzzz0000").replace("{name}", "go"));
        let (code, body) = if path.ends_with("/events") {
            // A stream: only the status line matters.
            let code = block(async {
                reqwest::Client::new()
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            });
            (code, Value::Null)
        } else {
            http(&method.to_uppercase(), &url, None, None)
        };
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            code != 405 && !(code == 404 && message.starts_with("no route")),
            "{method} {path}: {code} {body}"
        );
    }
}

#[test]
fn bodies_the_framework_refuses_still_get_json_errors() {
    let scratch = example("stepper");
    let config = scratch.file("relive.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text + "\n[limits]\nmax_call_bytes = 4096\n").unwrap();
    let s = Served::start(&scratch, &[], &[]);
    let input = "9".repeat(10_000);
    let (code, body) = http(
        "POST",
        &s.url("/v1/runs"),
        Some(json!({ "agent": "stepper", "input": input })),
        None,
    );
    assert_eq!(code, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_call_bytes"),
        "{body}"
    );
    // A wrong method, and a body that is not JSON.
    let (code, body) = http("DELETE", &s.url("/v1/runs"), None, None);
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (405, Some("bad_request")),
        "{body}"
    );
    let resp = block(async {
        reqwest::Client::new()
            .post(s.url("/v1/runs/x/approve"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap()
    });
    let code = resp.status().as_u16();
    let body: Value = block(resp.json()).unwrap();
    assert!(code == 400 || code == 422 || code == 404, "{code} {body}");
    assert!(body["error"]["code"].is_string(), "{body}");
}

/// The compiled artifacts in a wasmtime cache directory (not its usage
/// statistics), with their modification times.
fn cached_artifacts(dir: &std::path::Path) -> BTreeMap<PathBuf, std::time::SystemTime> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.map_while(Result::ok) {
            let path = entry.path();
            let meta = entry.metadata().unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if meta.is_dir() {
                stack.push(path);
            } else if !name.ends_with(".stats") && !name.contains(".wip") {
                found.insert(path, meta.modified().unwrap());
            }
        }
    }
    found
}

#[test]
fn a_restarted_service_takes_compiled_components_from_the_disk_cache() {
    let scratch = example("stepper");
    let cache = scratch.file("compile-cache");
    let env = [("RELIVE_CACHE_DIR", cache.to_str().unwrap())];
    let mut s = Served::start(&scratch, &[], &env);
    let compiled = cached_artifacts(&cache);
    assert!(
        !compiled.is_empty(),
        "starting compiled nothing into {}",
        cache.display()
    );
    assert_eq!(s.terminate(Duration::from_secs(30)), Some(0));

    let s = Served::start(&scratch, &[], &env);
    let run = post(&s, "/v1/runs", json!({ "agent": "stepper", "input": "3" }));
    let done = wait_run(
        &s,
        run["id"].as_str().unwrap(),
        Duration::from_secs(30),
        is_final,
    );
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        cached_artifacts(&cache),
        compiled,
        "the restarted service compiled the component again instead of loading it"
    );
}
