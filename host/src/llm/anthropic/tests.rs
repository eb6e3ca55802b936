//! The Anthropic client against a fake Messages API, streamed and whole:
//! the mapping of messages, tools and answers, retries, timeouts and every
//! kind of failure.

use super::*;
use crate::llm::test_server::*;
use std::time::Duration;

fn provider(server: &Server, stream: bool) -> AnthropicProvider {
    AnthropicProvider::new(settings(&server.url, "claude-x", stream))
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

const ANSWER: &str = r#"{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x-2025",
    "content": [{"type": "text", "text": "Rust is a language."}], "stop_reason": "end_turn",
    "stop_sequence": null, "usage": {"input_tokens": 9, "output_tokens": 4, "cache_read_input_tokens": null}}"#;

fn message_start() -> (&'static str, Value) {
    let message = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x-2025",
        "content": [], "stop_reason": null, "usage": {"input_tokens": 9, "output_tokens": 1}});
    (
        "message_start",
        json!({"type": "message_start", "message": message}),
    )
}

fn text_delta(index: u64, text: &str) -> (&'static str, Value) {
    let delta = json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}});
    ("content_block_delta", delta)
}

fn block_start(index: u64, block: Value) -> (&'static str, Value) {
    let start = json!({"type": "content_block_start", "index": index, "content_block": block});
    ("content_block_start", start)
}

fn message_end(stop_reason: &str, output_tokens: u64) -> [(&'static str, Value); 2] {
    [
        (
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]
}

/// The same answer as [`ANSWER`], streamed in pieces.
fn streamed_answer() -> Reply {
    let mut events = vec![
        message_start(),
        block_start(0, json!({"type": "text", "text": "Rust "})),
        ("ping", json!({"type": "ping"})),
        text_delta(0, "is "),
        text_delta(0, "a language."),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
    ];
    events.extend(message_end("end_turn", 4));
    Reply::sse(&events)
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
    assert_eq!(answer.model, "claude-x-2025");
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
    assert_eq!(tokens(&events), ["Rust ", "is ", "a language."]);
    let request = &seen[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.headers["x-api-key"], KEY);
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert_eq!(request.headers["idempotency-key"], "r1-0");
    assert!(request.headers.get("authorization").is_none());
    let expected = json!({"model": "claude-x", "max_tokens": 4096, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(request.body, expected, "max_tokens defaults to 4096");
}

#[tokio::test]
async fn an_answer_in_one_piece_is_understood_in_both_modes() {
    let (result, events, seen) = hi(vec![Reply::json(200, ANSWER)], false).await;
    is_answer(result);
    assert!(events.lock().unwrap().is_empty());
    assert!(seen[0].body.get("stream").is_none(), "{}", seen[0].body);
    let (result, events, _) = hi(vec![Reply::json(200, ANSWER)], true).await;
    is_answer(result);
    assert_eq!(tokens(&events), ["Rust is a language."]);
}

const TOOL_USE: &str = r#"{"type": "message", "role": "assistant", "model": "claude-x-2025",
    "content": [{"type": "text", "text": "Let me search."},
        {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"query": "rust", "limit": 3}},
        {"type": "tool_use", "id": "toolu_2", "name": "clock", "input": {}}],
    "stop_reason": "tool_use", "usage": {"input_tokens": 42, "output_tokens": 7}}"#;

/// The same answer as [`TOOL_USE`], streamed in pieces.
fn streamed_tool_use() -> Reply {
    let json_delta = |text: &str| {
        let delta = json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": text}});
        ("content_block_delta", delta)
    };
    let mut events = vec![
        message_start(),
        block_start(0, json!({"type": "text", "text": ""})),
        text_delta(0, "Let me search."),
        block_start(
            1,
            json!({"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}),
        ),
        json_delta(""),
        json_delta("{\"query\": \"ru"),
        json_delta("st\", \"limit\": 3}"),
        block_start(
            2,
            json!({"type": "tool_use", "id": "toolu_2", "name": "clock", "input": {}}),
        ),
    ];
    events[0].1["message"]["usage"]["input_tokens"] = json!(42);
    events.extend(message_end("tool_use", 7));
    Reply::sse(&events)
}

async fn tool_use_round_trip(stream: bool) {
    let first = if stream {
        streamed_tool_use()
    } else {
        Reply::json(200, TOOL_USE)
    };
    let server = Server::start(vec![first, answer(stream)]).await;
    let p = provider(&server, stream);
    let schema = r#"{"type":"object","properties":{"query":{"type":"string"}}}"#;
    let mut request: ChatRequest = from_json(json!({
        "model": "claude", "temperature": 0.7, "max_tokens": 100,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is rust?"},
            {"role": "system", "content": "cite sources"}],
        "tools": [{"name": "search", "description": "Search the notes", "parameters": schema}]
    }));

    let answer = serde_json::to_value(p.chat(&context(0).0, &request).await.unwrap()).unwrap();
    let calls = json!([{"id": "toolu_1", "name": "search", "arguments": "{\"query\":\"rust\",\"limit\":3}"},
        {"id": "toolu_2", "name": "clock", "arguments": "{}"}]);
    let expected = json!({"model": "claude-x-2025", "finish_reason": "tool_calls",
        "usage": {"input_tokens": 42, "output_tokens": 7},
        "message": {"role": "assistant", "content": "Let me search.", "tool_calls": calls}});
    assert_eq!(answer, expected, "arguments are compact JSON");

    request.messages.push(from_json(answer["message"].clone()));
    let results = [("toolu_1", "{\"hits\":1}"), ("toolu_2", "12:00")];
    for (id, content) in results {
        let result = json!({"role": "tool", "tool_call_id": id, "content": content});
        request.messages.push(from_json(result));
    }
    request.messages.push(from_json(
        json!({"role": "user", "content": "and briefly?"}),
    ));
    is_answer(p.chat(&context(1).0, &request).await);

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let tools = json!([{"name": "search", "description": "Search the notes",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]);
    let mut first = json!({"model": "claude-x", "max_tokens": 100, "system": "be brief\n\ncite sources",
        "messages": [{"role": "user", "content": "what is rust?"}], "tools": tools, "temperature": 0.7});
    if stream {
        first["stream"] = json!(true);
    }
    assert_eq!(seen[0].body, first);
    let assistant = json!({"role": "assistant", "content": [
        {"type": "text", "text": "Let me search."},
        {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"query": "rust", "limit": 3}},
        {"type": "tool_use", "id": "toolu_2", "name": "clock", "input": {}}]});
    let results = json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "{\"hits\":1}"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "12:00"},
        {"type": "text", "text": "and briefly?"}]});
    let mut follow_up = first.clone();
    follow_up["messages"] = json!([first["messages"][0], assistant, results]);
    assert_eq!(
        seen[1].body, follow_up,
        "consecutive tool results share one user message"
    );
}

#[tokio::test]
async fn tool_use_round_trip_maps_requests_and_responses() {
    tool_use_round_trip(false).await;
}

#[tokio::test]
async fn streamed_tool_use_round_trip_assembles_the_pieces() {
    tool_use_round_trip(true).await;
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    let (ctx, _) = context(0);
    let finish = |reason: &str| {
        let answer = Assembled {
            stop_reason: Some(reason.into()),
            ..Assembled::default()
        };
        answer.finish(&ctx, "m").finish_reason
    };
    assert_eq!(finish("end_turn"), FinishReason::Stop);
    assert_eq!(finish("stop_sequence"), FinishReason::Stop);
    assert_eq!(finish("tool_use"), FinishReason::ToolCalls);
    assert_eq!(finish("max_tokens"), FinishReason::Length);
    assert_eq!(finish("refusal"), FinishReason::Other);
}

/// 429 with `Retry-After: 1`, then the answer.
async fn rate_limited_then_answered(stream: bool) {
    let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;
    let limited = Reply::json(429, body).header("retry-after", "1");
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
async fn server_errors_and_overload_are_retried_with_the_same_key() {
    for stream in [false, true] {
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let replies = vec![
            Reply::json(500, "upstream exploded"),
            Reply::json(529, overloaded),
            answer(stream),
        ];
        let (result, events, seen) = hi(replies, stream).await;
        is_answer(result);
        assert_eq!(seen.len(), 3);
        same_key(&seen, "r1-0");
        let retried = retries(&events);
        fails(
            "unavailable",
            Err::<(), _>(retried[0].1.clone()),
            &["500", "`upstream exploded`"],
        );
        fails(
            "unavailable",
            Err::<(), _>(retried[1].1.clone()),
            &["529", "Overloaded"],
        );
    }
}

#[tokio::test]
async fn a_connection_broken_mid_answer_is_retried() {
    let cut = Reply::sse(&[
        message_start(),
        block_start(0, json!({"type": "text", "text": ""})),
        text_delta(0, "Rust "),
    ])
    .cut();
    let (result, events, seen) = hi(vec![cut, streamed_answer()], true).await;
    is_answer(result);
    assert_eq!(seen.len(), 2);
    same_key(&seen, "r1-0");
    assert_eq!(tokens(&events), ["Rust ", "Rust ", "is ", "a language."]);
    let error = Err::<(), _>(retries(&events)[0].1.clone());
    fails("unavailable", error, &["broke while reading the answer"]);

    let cut_body = Reply::json(200, &ANSWER[..60]).cut();
    let (result, events, _) = hi(vec![cut_body, answer(false)], false).await;
    is_answer(result);
    assert_eq!(retries(&events).len(), 1);

    // Ended cleanly, but before the message said why it stopped.
    let early = Reply::sse(&[
        message_start(),
        block_start(0, json!({"type": "text", "text": ""})),
    ]);
    let (result, events, _) = hi(vec![early, streamed_answer()], true).await;
    is_answer(result);
    let error = Err::<(), _>(retries(&events)[0].1.clone());
    fails("unavailable", error, &["ended before", "stop_reason"]);
}

#[tokio::test]
async fn errors_in_a_stream_are_retried_when_the_api_failed() {
    let error = |kind: &str, message: &str| {
        (
            "error",
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
    };
    let overloaded = Reply::sse(&[message_start(), error("overloaded_error", "Overloaded")]);
    let (result, events, _) = hi(vec![overloaded, streamed_answer()], true).await;
    is_answer(result);
    let retried = Err::<(), _>(retries(&events)[0].1.clone());
    fails("unavailable", retried, &["overloaded_error", "Overloaded"]);

    let invalid = Reply::sse(&[error("invalid_request_error", "prompt is too long")]);
    let (result, _, seen) = hi(vec![invalid, streamed_answer()], true).await;
    fails(
        "invalid_request",
        result,
        &["invalid_request_error", "prompt is too long"],
    );
    assert_eq!(seen.len(), 1);
}

#[tokio::test]
async fn a_slow_server_times_out_after_every_attempt() {
    for stream in [false, true] {
        let slow = answer(stream).delay(Duration::from_secs(2));
        let server = Server::start(vec![slow.clone(), slow]).await;
        let mut settings = settings(&server.url, "claude-x", stream);
        settings.timeout = Duration::from_millis(200);
        settings.retry.max_attempts = 2;
        let (ctx, events) = context(0);
        let result = AnthropicProvider::new(settings)
            .chat(&ctx, &user_hi())
            .await;
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
    let no_content = Reply::json(200, r#"{"content": [{"type": "tool_use"}]}"#);
    let (result, _, _) = hi(vec![no_content], false).await;
    fails(
        "invalid_request",
        result,
        &["malformed", "missing field `name`"],
    );

    let garbled = Reply::sse_text("event: message_start\ndata: {\"type\": oops\n\n");
    let (result, events, seen) = hi(vec![garbled.clone(), garbled.clone(), garbled], true).await;
    let parts = [
        "malformed stream event",
        "`{\"type\": oops`",
        "gave up after 3 attempts",
    ];
    fails("invalid_request", result, &parts);
    assert_eq!(seen.len(), 3);
    assert_eq!(retries(&events).len(), 2);

    let mut events = vec![
        message_start(),
        block_start(0, json!({"type": "tool_use", "id": "t", "name": "n"})),
    ];
    events.push((
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": "{\"a\": "}}),
    ));
    events.extend(message_end("tool_use", 1));
    let bad_input = Reply::sse(&events);
    let (result, _, _) = hi(vec![bad_input.clone(), bad_input.clone(), bad_input], true).await;
    fails(
        "invalid_request",
        result,
        &["input of tool call `t` is not JSON"],
    );
}

#[tokio::test]
async fn a_rejected_key_fails_at_once_without_quoting_it() {
    for stream in [false, true] {
        let body = format!(
            r#"{{"type":"error","error":{{"type":"authentication_error","message":"invalid x-api-key {KEY}"}}}}"#
        );
        let (result, events, seen) = hi(vec![Reply::json(401, body), answer(stream)], stream).await;
        let parts = [
            "401 Unauthorized",
            "invalid x-api-key <redacted>",
            "api_key_env",
        ];
        fails("invalid_request", result, &parts);
        assert_eq!(seen.len(), 1, "no retry");
        assert!(events.lock().unwrap().is_empty());
    }
    let server = Server::start(vec![]).await;
    let debug = format!("{:?}", provider(&server, true));
    assert!(!debug.contains(KEY), "{debug}");
}

#[tokio::test]
async fn an_unknown_model_quotes_the_provider() {
    let body = r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}"#;
    let (result, _, seen) = hi(vec![Reply::json(404, body)], true).await;
    let parts = ["404 Not Found", "model: claude-9", "check `model`"];
    fails("invalid_request", result, &parts);
    assert_eq!(seen.len(), 1);
}

#[test]
fn base_urls_with_or_without_v1_reach_the_messages_endpoint() {
    for base in [
        "https://api.anthropic.com",
        "https://api.anthropic.com/",
        "https://api.anthropic.com/v1/",
    ] {
        let p = AnthropicProvider::new(settings(base, "m", true));
        assert_eq!(
            p.endpoint.url(),
            "https://api.anthropic.com/v1/messages",
            "{base}"
        );
    }
}

#[test]
fn bad_tool_call_arguments_and_orphan_tool_results_are_rejected_before_sending() {
    let p = AnthropicProvider::new(settings("http://127.0.0.1:9", "m", true));
    let call = |arguments: &str| {
        let call = json!({"id": "toolu_1", "name": "search", "arguments": arguments});
        let messages = json!([{"role": "assistant", "content": "", "tool_calls": [call]}]);
        p.request_body(&from_json(json!({"messages": messages})))
    };
    fails(
        "invalid_request",
        call("[1]"),
        &["message #0", "`toolu_1`", "not a JSON object"],
    );
    fails(
        "invalid_request",
        call("{oops"),
        &["message #0", "not JSON"],
    );
    let empty = call("").unwrap();
    assert_eq!(empty["messages"][0]["content"][0]["input"], json!({}));
    let orphan = from_json(json!({"messages": [{"role": "tool", "content": "result"}]}));
    fails(
        "invalid_request",
        p.request_body(&orphan),
        &["message #0", "tool_call_id"],
    );
    let tool = json!({"name": "search", "description": "", "parameters": "[]"});
    let bad_schema = from_json(json!({"messages": [], "tools": [tool]}));
    fails(
        "invalid_request",
        p.request_body(&bad_schema),
        &["tool `search`", "not a JSON object"],
    );
}
