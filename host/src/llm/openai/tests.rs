//! The OpenAI client against a fake chat-completions server, streamed and
//! whole: answers, tool calls, retries, timeouts and every kind of failure.

use super::*;
use crate::llm::test_server::*;
use std::time::Duration;

fn provider(server: &Server, stream: bool) -> OpenAiProvider {
    // A trailing slash, which the provider must strip.
    OpenAiProvider::new(settings(&format!("{}/v1/", server.url), "llama3.2", stream))
}

/// Sends "hi" as call 0 to a server answering `replies`.
async fn hi(
    replies: Vec<Reply>,
    stream: bool,
) -> (Result<ChatResponse, LlmError>, Events, Vec<Seen>) {
    let server = Server::start(replies).await;
    let (ctx, events) = context(0);
    let result = provider(&server, stream).chat(&ctx, &user_hi()).await;
    (result, events, server.seen())
}

const ANSWER: &str = r#"{"model": "llama3.2:latest", "usage": {"prompt_tokens": 9, "completion_tokens": 4},
    "choices": [{"finish_reason": "stop", "message": {"content": "Rust is a language."}}]}"#;

/// The same answer as [`ANSWER`], streamed in pieces.
fn streamed_answer() -> Reply {
    let piece = |text: &str| json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    Reply::sse(&[
        (
            "",
            json!({"model": "llama3.2:latest", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        ),
        ("", piece("Rust is ")),
        ("", piece("a language.")),
        (
            "",
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        ),
        (
            "",
            json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}),
        ),
        ("", json!("[DONE]")),
    ])
}

fn answer(stream: bool) -> Reply {
    if stream {
        streamed_answer()
    } else {
        Reply::json(200, ANSWER)
    }
}

/// Asserts `result` is the answer of [`answer`].
fn is_answer(result: Result<ChatResponse, LlmError>) {
    let answer = result.unwrap();
    assert_eq!(answer.message.content, "Rust is a language.");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!(answer.model, "llama3.2:latest");
    let usage = Usage {
        input_tokens: 9,
        output_tokens: 4,
    };
    assert_eq!(answer.usage, usage);
}

#[tokio::test]
async fn a_streamed_answer_reports_its_tokens_as_they_arrive() {
    let (result, events, seen) = hi(vec![streamed_answer()], true).await;
    is_answer(result);
    assert_eq!(tokens(&events), ["Rust is ", "a language."]);
    assert_eq!(seen.len(), 1);
    let body = &seen[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn an_answer_in_one_piece_is_understood_in_both_modes() {
    let (result, events, seen) = hi(vec![Reply::json(200, ANSWER)], false).await;
    is_answer(result);
    assert!(events.lock().unwrap().is_empty(), "not streamed, no tokens");
    assert!(seen[0].body.get("stream").is_none(), "{}", seen[0].body);

    // A server that ignores `stream: true`: its whole answer is one token.
    let (result, events, _) = hi(vec![Reply::json(200, ANSWER)], true).await;
    is_answer(result);
    assert_eq!(tokens(&events), ["Rust is a language."]);
}

const TOOL_CALL: &str = r#"{"model": "llama3.2:latest", "usage": {"prompt_tokens": 42, "completion_tokens": 7},
    "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
        "tool_calls": [{"id": "call_abc", "type": "function",
            "function": {"name": "search", "arguments": "{\"query\":\"rust\"}"}},
          {"type": "function", "function": {"name": "clock", "arguments": {}}}]}}]}"#;

/// The same tool calls as [`TOOL_CALL`], streamed in interleaved pieces.
fn streamed_tool_call() -> Reply {
    let piece = |calls: Value| json!({"choices": [{"index": 0, "delta": {"tool_calls": calls}}]});
    Reply::sse(&[
        (
            "",
            json!({"model": "llama3.2:latest", "choices": [{"index": 0, "delta": {"role": "assistant", "content": null}}]}),
        ),
        (
            "",
            piece(
                json!([{"index": 0, "id": "call_abc", "type": "function", "function": {"name": "search", "arguments": ""}}]),
            ),
        ),
        (
            "",
            piece(json!([{"index": 0, "function": {"arguments": "{\"query\":"}}])),
        ),
        (
            "",
            piece(json!([{"index": 1, "type": "function", "function": {"name": "clock"}}])),
        ),
        (
            "",
            piece(json!([{"index": 0, "function": {"arguments": "\"rust\"}"}}])),
        ),
        (
            "",
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ),
        (
            "",
            json!({"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 7}}),
        ),
        ("", json!("[DONE]")),
    ])
}

async fn tool_call_round_trip(stream: bool) {
    let first = if stream {
        streamed_tool_call()
    } else {
        Reply::json(200, TOOL_CALL)
    };
    let server = Server::start(vec![first, answer(stream)]).await;
    let p = provider(&server, stream);
    let schema = r#"{"type":"object","properties":{"query":{"type":"string"}}}"#;
    let conversation = json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is rust?"}]);
    let mut request: ChatRequest = from_json(json!({
        "model": "local", "temperature": 0.7, "max_tokens": 100, "messages": conversation,
        "tools": [{"name": "search", "description": "Search the notes", "parameters": schema}]
    }));

    let answer = serde_json::to_value(p.chat(&context(0).0, &request).await.unwrap()).unwrap();
    let calls = json!([{"id": "call_abc", "name": "search", "arguments": "{\"query\":\"rust\"}"},
        {"id": "call_0_1", "name": "clock", "arguments": "{}"}]);
    let expected = json!({"model": "llama3.2:latest", "finish_reason": "tool_calls",
        "usage": {"input_tokens": 42, "output_tokens": 7},
        "message": {"role": "assistant", "content": "", "tool_calls": calls}});
    assert_eq!(
        answer, expected,
        "null content is empty; a missing id is derived"
    );

    request.messages.push(from_json(answer["message"].clone()));
    let tool = json!({"role": "tool", "tool_call_id": "call_abc", "content": "{\"hits\":1}"});
    request.messages.push(from_json(tool.clone()));
    is_answer(p.chat(&context(1).0, &request).await);

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for (i, request) in seen.iter().enumerate() {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(
            request.headers["authorization"],
            "Bearer sk-test-secret-key"
        );
        assert_eq!(
            request.headers["idempotency-key"],
            format!("r1-{i}").as_str()
        );
    }
    let tools = json!([{"type": "function", "function": {"name": "search", "description": "Search the notes",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]);
    let mut first = json!({"model": "llama3.2", "messages": conversation, "tools": tools,
        "temperature": 0.7, "max_tokens": 100});
    if stream {
        first["stream"] = json!(true);
        first["stream_options"] = json!({"include_usage": true});
    }
    assert_eq!(seen[0].body, first);
    let assistant = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_abc", "type": "function", "function": {"name": "search", "arguments": "{\"query\":\"rust\"}"}},
        {"id": "call_0_1", "type": "function", "function": {"name": "clock", "arguments": "{}"}}]});
    let mut follow_up = first.clone();
    follow_up["messages"] = json!([conversation[0], conversation[1], assistant, tool]);
    assert_eq!(seen[1].body, follow_up);
}

#[tokio::test]
async fn tool_call_round_trip_maps_requests_and_responses() {
    tool_call_round_trip(false).await;
}

#[tokio::test]
async fn streamed_tool_call_round_trip_assembles_the_pieces() {
    tool_call_round_trip(true).await;
}

/// 429 with `Retry-After: 1`, then the answer.
async fn rate_limited_then_answered(stream: bool) {
    let limited =
        Reply::json(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after", "1");
    let (result, events, seen) = hi(vec![limited, answer(stream)], stream).await;
    is_answer(result);
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_millis(1900), "{waited:?}");
    same_key(&seen, "r1-0");
    let retried = retries(&events);
    assert_eq!(retried.len(), 1);
    let (attempt, error, retry_in) = &retried[0];
    assert_eq!((*attempt, *retry_in), (1, Duration::from_secs(1)));
    fails(
        "unavailable",
        Err::<(), _>(error.clone()),
        &["429 Too Many Requests", "slow down"],
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_its_retry_after() {
    rate_limited_then_answered(false).await;
}

#[tokio::test]
async fn a_rate_limited_stream_is_retried_after_its_retry_after() {
    rate_limited_then_answered(true).await;
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_key() {
    for stream in [false, true] {
        let failure = Reply::json(500, "upstream exploded");
        let (result, events, seen) = hi(vec![failure, answer(stream)], stream).await;
        is_answer(result);
        same_key(&seen, "r1-0");
        assert_eq!(seen.len(), 2);
        let retried = retries(&events);
        let parts = ["500 Internal Server Error", "`upstream exploded`"];
        fails("unavailable", Err::<(), _>(retried[0].1.clone()), &parts);
    }
}

#[tokio::test]
async fn a_connection_broken_mid_answer_is_retried() {
    let cut_stream = Reply::sse_text(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Rust \"}}]}\n\n",
    )
    .cut();
    let (result, events, seen) = hi(vec![cut_stream, streamed_answer()], true).await;
    is_answer(result);
    assert_eq!(seen.len(), 2);
    same_key(&seen, "r1-0");
    assert_eq!(
        tokens(&events),
        ["Rust ", "Rust is ", "a language."],
        "the retry streams the answer again"
    );
    let retried = retries(&events);
    let error = Err::<(), _>(retried[0].1.clone());
    fails(
        "unavailable",
        error,
        &["connection", "broke while reading the answer"],
    );

    let cut_body = Reply::json(200, &ANSWER[..40]).cut();
    let (result, events, seen) = hi(vec![cut_body, answer(false)], false).await;
    is_answer(result);
    assert_eq!(seen.len(), 2);
    assert_eq!(retries(&events).len(), 1);
}

#[tokio::test]
async fn a_stream_that_ends_early_is_retried() {
    let early = Reply::sse(&[(
        "",
        json!({"choices": [{"index": 0, "delta": {"content": "Rust"}}]}),
    )]);
    let (result, events, _) = hi(vec![early, streamed_answer()], true).await;
    is_answer(result);
    let retried = retries(&events);
    fails(
        "unavailable",
        Err::<(), _>(retried[0].1.clone()),
        &["ended before", "finish_reason"],
    );
}

#[tokio::test]
async fn a_slow_server_times_out_after_every_attempt() {
    for stream in [false, true] {
        let slow = answer(stream).delay(Duration::from_secs(2));
        let server = Server::start(vec![slow.clone(), slow]).await;
        let mut settings = settings(&format!("{}/v1", server.url), "m", stream);
        settings.timeout = Duration::from_millis(200);
        settings.retry.max_attempts = 2;
        let (ctx, events) = context(0);
        let result = OpenAiProvider::new(settings).chat(&ctx, &user_hi()).await;
        let parts = [
            "timeout of 200ms",
            "timeout_secs",
            "gave up after 2 attempts",
        ];
        fails("unavailable", result, &parts);
        assert_eq!(retries(&events).len(), 1);
        assert_eq!(server.seen().len(), 2);
    }
}

#[tokio::test]
async fn a_malformed_body_fails_at_once_and_a_malformed_stream_after_retries() {
    let (html, _, seen) = hi(vec![Reply::json(200, "<html>hello</html>")], false).await;
    fails(
        "invalid_request",
        html,
        &["malformed", "`<html>hello</html>`"],
    );
    assert_eq!(seen.len(), 1);
    let (no_choices, _, _) = hi(vec![Reply::json(200, r#"{"choices": []}"#)], false).await;
    fails("invalid_request", no_choices, &["malformed", "no choices"]);
    let (empty, _, _) = hi(vec![Reply::json(200, "")], false).await;
    fails("invalid_request", empty, &["malformed", "(empty body)"]);

    let garbled = Reply::sse_text("data: {\"choices\": [oops\n\n");
    let (result, events, seen) = hi(vec![garbled.clone(), garbled.clone(), garbled], true).await;
    let parts = [
        "malformed stream event",
        "`{\"choices\": [oops`",
        "gave up after 3 attempts",
    ];
    fails("invalid_request", result, &parts);
    assert_eq!(seen.len(), 3);
    assert_eq!(retries(&events).len(), 2);
}

#[tokio::test]
async fn an_error_in_the_middle_of_a_stream_is_retried() {
    let failing = Reply::sse(&[(
        "",
        json!({"error": {"message": "model crashed", "type": "server_error"}}),
    )]);
    let (result, events, _) = hi(vec![failing, streamed_answer()], true).await;
    is_answer(result);
    let error = Err::<(), _>(retries(&events)[0].1.clone());
    fails(
        "unavailable",
        error,
        &["failed mid-stream", "model crashed"],
    );
}

#[tokio::test]
async fn a_rejected_key_fails_at_once_without_quoting_it() {
    for stream in [false, true] {
        let body = format!(r#"{{"error": {{"message": "Incorrect API key provided: {KEY}"}}}}"#);
        let (result, events, seen) = hi(vec![Reply::json(401, body), answer(stream)], stream).await;
        let parts = [
            "401 Unauthorized",
            "Incorrect API key provided: <redacted>",
            "api_key_env",
        ];
        fails("invalid_request", result, &parts);
        assert_eq!(seen.len(), 1, "no retry");
        assert!(events.lock().unwrap().is_empty());
    }
    let server = Server::start(vec![]).await;
    let debug = format!("{:?}", provider(&server, true));
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[tokio::test]
async fn an_unknown_model_quotes_the_provider() {
    let body =
        r#"{"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}}"#;
    let (result, _, seen) = hi(vec![Reply::json(404, body)], true).await;
    let parts = [
        "404 Not Found",
        "The model `gpt-9` does not exist",
        "`model` in relive.toml",
    ];
    fails("invalid_request", result, &parts);
    assert_eq!(seen.len(), 1);
}

#[tokio::test]
async fn redirects_are_reported_not_followed() {
    let redirect = Reply::json(307, "").header("location", "http://elsewhere/");
    let (result, _, _) = hi(vec![redirect], false).await;
    fails("invalid_request", result, &["307", "redirects", "base_url"]);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_after_retries() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let p = OpenAiProvider::new(settings(&format!("http://{addr}/v1"), "m", true));
    let (ctx, events) = context(0);
    let result = p.chat(&ctx, &user_hi()).await;
    let parts = [
        "cannot connect",
        "refused",
        "base_url",
        "gave up after 3 attempts",
    ];
    fails("unavailable", result, &parts);
    assert_eq!(retries(&events).len(), 2);
}

#[test]
fn invalid_schemas_and_orphan_tool_messages_are_rejected_before_sending() {
    let p = OpenAiProvider::new(settings("http://127.0.0.1:9/v1", "m", true));
    let body = |parameters: &str| {
        let tool = json!({"name": "search", "description": "", "parameters": parameters});
        p.request_body(&from_json(json!({"messages": [], "tools": [tool]})))
    };
    fails(
        "invalid_request",
        body("{type: 1"),
        &["tool `search`", "is not JSON"],
    );
    fails(
        "invalid_request",
        body("[]"),
        &["tool `search`", "not a JSON object"],
    );
    let orphan = from_json(json!({"messages": [{"role": "tool", "content": "result"}]}));
    let parts = ["message #0", "tool_call_id"];
    fails("invalid_request", p.request_body(&orphan), &parts);
}

#[test]
fn the_configured_max_tokens_applies_when_the_request_has_none() {
    let mut settings = settings("http://127.0.0.1:9/v1", "m", false);
    settings.max_tokens = Some(256);
    let p = OpenAiProvider::new(settings);
    let body = p.request_body(&user_hi()).unwrap();
    assert_eq!(body["max_tokens"], 256);
    let mut request = user_hi();
    request.max_tokens = Some(10);
    assert_eq!(p.request_body(&request).unwrap()["max_tokens"], 10);
}

#[tokio::test]
async fn a_stream_may_outlast_the_timeout_but_not_fall_silent_for_it() {
    let piece = |text: &str| {
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": text}}]});
        (Duration::from_millis(100), format!("data: {chunk}\n\n"))
    };
    let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let mut parts: Vec<_> = ["a", "b", "c", "d", "e"].iter().map(|t| piece(t)).collect();
    parts.push((Duration::ZERO, format!("data: {end}\n\ndata: [DONE]\n\n")));
    let url = paced_stream(parts).await;
    let mut settings = settings(&url, "m", true);
    settings.timeout = Duration::from_millis(250);
    let (ctx, events) = context(0);
    let answer = OpenAiProvider::new(settings.clone())
        .chat(&ctx, &user_hi())
        .await;
    assert_eq!(
        answer.unwrap().message.content,
        "abcde",
        "500 ms in all, 100 ms apart"
    );
    assert_eq!(tokens(&events), ["a", "b", "c", "d", "e"]);

    let url = paced_stream(vec![
        piece("a"),
        (Duration::from_secs(2), "data: late\n\n".into()),
    ])
    .await;
    settings.base_url = url;
    settings.retry.max_attempts = 1;
    let (ctx, events) = context(0);
    let result = OpenAiProvider::new(settings).chat(&ctx, &user_hi()).await;
    fails(
        "unavailable",
        result,
        &[
            "sent nothing for longer than the timeout of 250ms",
            "timeout_secs",
        ],
    );
    assert_eq!(tokens(&events), ["a"]);
}
