//! The researcher example against a real HTTP server on 127.0.0.1 that
//! speaks the OpenAI chat-completions protocol, tool-call round trip
//! included.

use crate::support::*;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

async fn completions(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let has_tool_result = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["role"] == "tool");
    seen.lock().unwrap().push((headers, body));
    let message = if has_tool_result {
        json!({ "role": "assistant", "content": "Answer from the test model." })
    } else {
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": "call_abc",
                "type": "function",
                "function": { "name": "search", "arguments": "{\"query\":\"durable execution\"}" }
            }]
        })
    };
    Json(json!({
        "id": "chatcmpl-1",
        "model": "test-model-2026",
        "choices": [{ "index": 0, "message": message, "finish_reason": if has_tool_result { "stop" } else { "tool_calls" } }],
        "usage": { "prompt_tokens": 42, "completion_tokens": 7 }
    }))
}

/// Starts the server on a thread of its own; returns its base URL.
fn start_server(seen: Seen) -> String {
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state(seen);
    format!("{}/v1", serve(app))
}

#[test]
fn researcher_against_openai_compatible_server() {
    let seen: Seen = Arc::default();
    let base_url = start_server(seen.clone());
    let scratch = Scratch::example("researcher");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let config = config.replace("models = [\"scripted\"]", "models = [\"remote\"]")
        + &format!(
            "\n[models.remote]\nprovider = \"openai\"\nbase_url = \"{base_url}\"\nmodel = \"test-model\"\napi_key_env = \"RELIVE_TEST_KEY\"\n"
        );
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    let secret = "sk-test-7f3c9a1b5d";
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("researcher"))
        .args(["--input", "What is durable execution?", "--json"])
        .env("RELIVE_TEST_KEY", secret)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["output"], "Answer from the test model.");
    let id = report["id"].as_str().unwrap();

    let entries = scratch.entries(id);
    let llm: Vec<_> = entries
        .iter()
        .filter(|e| e.kind.as_str() == "llm")
        .collect();
    assert_eq!(llm.len(), 2);
    assert!(
        llm.iter().all(|e| e.name == "default"),
        "named after what the agent asked for"
    );
    assert_eq!(llm[0].usage.unwrap().input_tokens, 42);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for ((headers, body), entry) in seen.iter().zip(&llm) {
        assert_eq!(
            headers["authorization"],
            format!("Bearer {secret}").as_str()
        );
        assert_eq!(
            headers["idempotency-key"],
            format!("relive-{id}-{}", entry.seq).as_str()
        );
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["tools"][0]["function"]["name"], "search");
    }
    // The second request carries the assistant's tool call and its result.
    let messages = seen[1].1["messages"].as_array().unwrap();
    let call = messages.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(call["tool_calls"][0]["id"], "call_abc");
    let result = messages.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(result["tool_call_id"], "call_abc");
    assert!(
        result["content"].as_str().unwrap().contains("durable"),
        "{result}"
    );

    // The key never reaches the journal.
    drop(seen);
    let db = std::fs::read(scratch.db()).unwrap();
    let wal = std::fs::read(scratch.file("relive.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "API key found in the journal"
        );
    }
}

#[test]
fn missing_api_key_variable_is_named() {
    let scratch = Scratch::example("researcher");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let config = config.replace("models = [\"scripted\"]", "models = [\"remote\"]")
        + "\n[models.remote]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\napi_key_env = \"RELIVE_TEST_UNSET_KEY\"\n";
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("researcher"))
        .args(["--input", "q"])
        .env_remove("RELIVE_TEST_UNSET_KEY")
        .output()
        .unwrap();
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("RELIVE_TEST_UNSET_KEY, which is not set"),
        "{}",
        stderr(&out)
    );
}
