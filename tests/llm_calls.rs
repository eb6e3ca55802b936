//! LLM calls through the real binary: a SIGKILL during a call and a resume
//! that re-sends the same idempotency key; token budgets; the API key kept
//! out of the journal, the export and the output.

use crate::support::*;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Server {
    /// Idempotency keys of the requests, in arrival order.
    keys: Mutex<Vec<String>>,
    /// Requests that should hang (by arrival number, from 0).
    hang: Mutex<Vec<usize>>,
    /// Requests answered with 429 and `Retry-After: 1`.
    throttle: Mutex<Vec<usize>>,
    count: AtomicUsize,
}

async fn completions(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let n = server.count.fetch_add(1, Ordering::SeqCst);
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    server.keys.lock().unwrap().push(key);
    if server.throttle.lock().unwrap().contains(&n) {
        let body = Json(json!({ "error": { "message": "slow down" } }));
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            body,
        )
            .into_response();
    }
    if server.hang.lock().unwrap().contains(&n) {
        // Bounded: the test kills the client long before this ends.
        tokio::time::sleep(Duration::from_secs(20)).await;
    }
    let answered = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["role"] == "tool");
    let message = if answered {
        json!({ "role": "assistant", "content": "done" })
    } else {
        json!({ "role": "assistant", "content": null, "tool_calls": [{
            "id": "c1", "type": "function",
            "function": { "name": "search", "arguments": "{\"query\":\"durable\"}" } }] })
    };
    Json(json!({
        "model": "m",
        "choices": [{ "message": message, "finish_reason": if answered { "stop" } else { "tool_calls" } }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 5 }
    }))
    .into_response()
}

fn start(server: Arc<Server>) -> String {
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state(server);
    format!("{}/v1", serve(app))
}

/// The researcher example pointed at `base_url`, with `extra` appended to
/// its agent table.
fn researcher(base_url: &str, agent_extra: &str) -> Scratch {
    let scratch = Scratch::example("researcher");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let config = config.replace(
        "models = [\"scripted\"]",
        &format!("models = [\"remote\"]\n{agent_extra}"),
    ) + &format!(
        "\n[models.remote]\nprovider = \"openai\"\nbase_url = \"{base_url}\"\nmodel = \"m\"\napi_key_env = \"RELIVE_TEST_KEY\"\n"
    );
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    scratch
}

const SECRET: &str = "sk-relive-test-5be1c0de";

#[test]
fn sigkill_during_llm_call_then_resume_resends_the_same_idempotency_key() {
    let server = Arc::new(Server::default());
    server.hang.lock().unwrap().push(1); // the second LLM call hangs
    let scratch = researcher(&start(server.clone()), "");
    let mut child = scratch
        .relive()
        .arg("run")
        .arg(guest("researcher"))
        .args(["--input", "q", "-q"])
        .env("RELIVE_TEST_KEY", SECRET)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.count.load(Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second LLM call never came"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL, mid-request
    child.wait().unwrap();
    let id = relive::journal::all_runs(&*scratch.journal(), None).unwrap()[0]
        .id
        .clone();

    let out = scratch
        .relive()
        .args(["resume", &id, "--json"])
        .env("RELIVE_TEST_KEY", SECRET)
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(json(&out)["output"], "done");
    let keys = server.keys.lock().unwrap().clone();
    assert_eq!(
        keys.len(),
        3,
        "first call once, the interrupted one twice: {keys:?}"
    );
    assert_ne!(keys[0], keys[1]);
    assert_eq!(
        keys[1], keys[2],
        "the re-issued call carries the same idempotency key"
    );
    let entries = scratch.entries(&id);
    let llm: Vec<_> = entries
        .iter()
        .filter(|e| e.kind.as_str() == "llm")
        .collect();
    assert_eq!(llm.len(), 2);
    assert_eq!(keys[2], format!("relive-{id}-{}", llm[1].seq));
}

#[test]
fn token_budget_stops_the_run_with_the_key_to_raise() {
    let server = Arc::new(Server::default());
    let scratch = researcher(&start(server.clone()), "budget_tokens = 20");
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("researcher"))
        .args(["--input", "q", "--json"])
        .env("RELIVE_TEST_KEY", SECRET)
        .output()
        .unwrap();
    assert_code(&out, 3);
    let report = json(&out);
    assert_eq!(report["status"], "failed");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("30 LLM tokens, over its budget of 20") && error.contains("budget_tokens"),
        "{error}"
    );
    assert_eq!(
        server.count.load(Ordering::SeqCst),
        2,
        "no call after the budget ran out"
    );
}

#[test]
fn api_key_never_reaches_journal_export_or_output() {
    let server = Arc::new(Server::default());
    let scratch = researcher(&start(server), "");
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("researcher"))
        .args(["--input", "q", "--json", "-v"])
        .env("RELIVE_TEST_KEY", SECRET)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let id = json(&out)["id"].as_str().unwrap().to_string();
    let export = scratch.run(&["export", &id]);
    let show = scratch.run(&["show", &id, "--full"]);
    let mut haystacks = vec![out.stdout, out.stderr, export.stdout, show.stdout];
    for f in ["relive.db", "relive.db-wal"] {
        haystacks.push(std::fs::read(scratch.file(f)).unwrap_or_default());
    }
    for bytes in haystacks {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "API key leaked"
        );
    }
}

#[test]
fn cost_budget_stops_the_run_and_show_prints_the_cost() {
    let scratch = Scratch::example("researcher");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let config = config
        .replace(
            "script = \"script.json\"",
            "script = \"script.json\"\nprice_input = 10.0\nprice_output = 30.0",
        )
        .replace(
            "tools = [\"search\"]",
            "tools = [\"search\"]\nbudget_cost = 0.004",
        );
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("researcher"))
        .args(["--input", "q", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 3);
    let report = json(&out);
    let error = report["error"].as_str().unwrap();
    // Call 1: 182 in / 21 out; call 2: 356 / 19 → 0.00658 at 10 and 30 per million.
    assert!(
        error.contains("spent 0.006580 on LLM calls, over its budget of 0.004")
            && error.contains("budget_cost"),
        "{error}"
    );
    let show = scratch.run(&["show", report["id"].as_str().unwrap()]);
    assert_code(&show, 0);
    assert!(
        stdout(&show).contains("cost: 0.006580"),
        "{}",
        stdout(&show)
    );
}

#[test]
fn cost_budget_without_prices_is_a_config_error() {
    let scratch = Scratch::example("researcher");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    std::fs::write(
        scratch.file("relive.toml"),
        config.replace(
            "tools = [\"search\"]",
            "tools = [\"search\"]\nbudget_cost = 1.0",
        ),
    )
    .unwrap();
    let out = scratch.run(&["run", "researcher"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("agents.researcher.budget_cost")
            && stderr(&out).contains("price_input"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn stream_flag_prints_the_answer_as_it_arrives() {
    let server = Arc::new(Server::default());
    let scratch = researcher(&start(server), "");
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("researcher"))
        .args(["--input", "q", "--stream"])
        .env("RELIVE_TEST_KEY", SECRET)
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(stderr(&out).contains("llm  ▸ done"), "{}", stderr(&out));
}

#[test]
fn a_throttled_call_is_retried_and_its_failed_attempt_recorded() {
    let server = Arc::new(Server::default());
    server.throttle.lock().unwrap().push(0);
    let scratch = researcher(&start(server.clone()), "");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap()
        + "retry_base_ms = 10\nretry_max_ms = 50\n";
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("researcher"))
        .args(["--input", "q", "--json"])
        .env("RELIVE_TEST_KEY", SECRET)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let id = json(&out)["id"].as_str().unwrap().to_string();
    let keys = server.keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(keys[0], keys[1], "a retry carries the same idempotency key");
    let first = scratch
        .entries(&id)
        .into_iter()
        .find(|e| e.kind.as_str() == "llm")
        .unwrap();
    assert_eq!(first.attempts.len(), 1);
    assert!(
        first.attempts[0].error.contains("429"),
        "{:?}",
        first.attempts
    );
    let show = scratch.run(&["show", &id]);
    assert!(
        stdout(&show).contains("↻ attempt 1 failed"),
        "{}",
        stdout(&show)
    );
    // A replay returns the final answer only.
    assert_eq!(
        export_and_replay(&scratch, &id, &guest("researcher"))["passed"],
        true
    );
}
