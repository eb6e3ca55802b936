//! Unit tests of [`AgentLoop`] against a scripted fake host.

use super::*;
use crate::agents::AgentError;
use crate::llm::{ChatResponse, LlmError, Role, Usage};
use crate::tools::ToolError;
use std::collections::VecDeque;

/// Answers chat requests from a script and records everything it is asked.
#[derive(Default)]
struct FakeHost {
    replies: VecDeque<Result<ChatResponse, LlmError>>,
    tools: Vec<ToolSpec>,
    requests: Vec<ChatRequest>,
    tool_calls: Vec<(String, String)>,
    batches: Vec<usize>,
    spawned: Vec<(String, String)>,
    logs: Vec<(Level, String)>,
    lists: usize,
}

impl Host for FakeHost {
    fn chat(&mut self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.requests.push(request.clone());
        self.replies
            .pop_front()
            .expect("the loop asked the model more often than scripted")
    }

    fn call_tools(&mut self, calls: &[(String, String)]) -> Vec<Result<String, ToolError>> {
        self.batches.push(calls.len());
        calls
            .iter()
            .map(|(name, arguments)| {
                self.tool_calls.push((name.clone(), arguments.clone()));
                match name.as_str() {
                    "search" => Ok(format!("{{\"echo\":{arguments}}}")),
                    _ => Err(ToolError::NotFound(name.clone())),
                }
            })
            .collect()
    }

    fn spawn_agent(&mut self, agent: &str, input: &str) -> Result<String, AgentError> {
        self.spawned.push((agent.into(), input.into()));
        match agent {
            "researcher" => Ok(format!("child-{}", self.spawned.len())),
            _ => Err(AgentError::Denied(format!("may not start {agent}"))),
        }
    }

    fn join_agents(&mut self, children: &[String]) -> Vec<Result<String, AgentError>> {
        children
            .iter()
            .map(|c| Ok(format!("answer of {c}")))
            .collect()
    }

    fn list_tools(&mut self) -> Vec<ToolSpec> {
        self.lists += 1;
        self.tools.clone()
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.into()));
    }
}

fn spec(name: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("the {name} tool"),
        parameters: "{}".into(),
    }
}

fn answer(content: &str) -> Result<ChatResponse, LlmError> {
    Ok(ChatResponse {
        message: Message::assistant(content),
        finish_reason: FinishReason::Stop,
        usage: Usage {
            input_tokens: 1,
            output_tokens: 1,
        },
        model: "fake".into(),
    })
}

fn asks_for(calls: &[(&str, &str, &str)]) -> Result<ChatResponse, LlmError> {
    let mut response = answer("")?;
    response.finish_reason = FinishReason::ToolCalls;
    response.message.tool_calls = calls
        .iter()
        .map(|(id, name, arguments)| ToolCall {
            id: (*id).into(),
            name: (*name).into(),
            arguments: (*arguments).into(),
        })
        .collect();
    Ok(response)
}

fn host(replies: Vec<Result<ChatResponse, LlmError>>) -> FakeHost {
    FakeHost {
        replies: replies.into(),
        tools: vec![spec("search")],
        ..FakeHost::default()
    }
}

fn info_lines(host: &FakeHost) -> Vec<&str> {
    host.logs
        .iter()
        .filter(|(level, _)| *level == Level::Info)
        .map(|(_, m)| m.as_str())
        .collect()
}

#[test]
fn a_direct_answer_is_returned_after_one_step() {
    let mut host = host(vec![answer("42")]);
    let out = AgentLoop::new("be brief").run_on(&mut host, "question");
    assert_eq!(out.as_deref(), Ok("42"));
    let request = &host.requests[0];
    assert_eq!(
        request.messages,
        vec![Message::system("be brief"), Message::user("question")]
    );
    assert_eq!(
        request.tools,
        vec![spec("search")],
        "defaults to tools::list"
    );
    assert_eq!(request.model, None);
    assert_eq!(info_lines(&host), ["step 1: final answer"]);
}

#[test]
fn tool_calls_are_run_and_their_results_sent_back() {
    let mut host = host(vec![
        asks_for(&[("c1", "search", r#"{"query":"a"}"#)]),
        asks_for(&[
            ("c2", "search", r#"{"query":"b"}"#),
            ("c3", "search", r#"{"query":"c"}"#),
        ]),
        answer("done"),
    ]);
    let out = AgentLoop::new("sys").model("m").run_on(&mut host, "q");
    assert_eq!(out.as_deref(), Ok("done"));
    assert_eq!(host.tool_calls.len(), 3);
    assert_eq!(host.requests.len(), 3);
    assert!(
        host.requests
            .iter()
            .all(|r| r.model.as_deref() == Some("m"))
    );

    let last = &host.requests[2].messages;
    let roles: Vec<Role> = last.iter().map(|m| m.role).collect();
    use Role::*;
    assert_eq!(
        roles,
        [System, User, Assistant, Tool, Assistant, Tool, Tool]
    );
    assert_eq!(last[2].tool_calls[0].id, "c1");
    assert_eq!(
        last[3],
        Message::tool_result("c1", r#"{"echo":{"query":"a"}}"#)
    );
    assert_eq!(last[6].tool_call_id.as_deref(), Some("c3"));
    assert_eq!(
        info_lines(&host),
        [
            "step 1: calling tool search",
            "step 2: calling tools search, search",
            "step 3: final answer"
        ]
    );
}

#[test]
fn a_failing_tool_is_reported_to_the_model() {
    let mut host = host(vec![asks_for(&[("c1", "nope", "{}")]), answer("sorry")]);
    let out = AgentLoop::new("sys").run_on(&mut host, "q");
    assert_eq!(out.as_deref(), Ok("sorry"));
    let tool_message = &host.requests[1].messages[3];
    assert_eq!(tool_message.content, "error: not found: nope");
    assert!(host.logs.iter().any(|(l, _)| *l == Level::Warn));
}

#[test]
fn explicit_tools_skip_the_listing() {
    let mut host = host(vec![answer("ok")]);
    let loop_ = AgentLoop::new("sys").tools(vec![spec("other")]);
    loop_.run_on(&mut host, "q").unwrap();
    assert_eq!(host.lists, 0);
    assert_eq!(host.requests[0].tools, vec![spec("other")]);
}

#[test]
fn the_step_limit_stops_a_model_that_keeps_calling_tools() {
    let call = [("c", "search", "{}")];
    let mut host = host(vec![asks_for(&call), asks_for(&call), asks_for(&call)]);
    let err = AgentLoop::new("sys")
        .max_steps(3)
        .run_on(&mut host, "q")
        .unwrap_err();
    assert!(err.contains("step limit (3)"), "{err}");
    assert!(err.contains("AgentLoop::max_steps"), "{err}");
    assert_eq!(host.requests.len(), 3);
    assert_eq!(
        host.tool_calls.len(),
        2,
        "the last step's tools are not run"
    );
}

#[test]
fn zero_steps_never_ask_the_model() {
    let mut host = host(vec![]);
    let err = AgentLoop::new("sys")
        .max_steps(0)
        .run_on(&mut host, "q")
        .unwrap_err();
    assert!(err.contains("at least 1"), "{err}");
    assert!(host.requests.is_empty());
}

#[test]
fn an_llm_error_fails_the_loop_with_its_step() {
    let mut host = host(vec![Err(LlmError::Denied("model x not granted".into()))]);
    let err = AgentLoop::new("sys").run_on(&mut host, "q").unwrap_err();
    assert_eq!(err, "agent loop: step 1: model denied: model x not granted");
}

#[test]
fn a_truncated_answer_is_returned_with_a_warning() {
    let mut reply = answer("partial").unwrap();
    reply.finish_reason = FinishReason::Length;
    let mut host = host(vec![Ok(reply)]);
    let out = AgentLoop::new("sys").run_on(&mut host, "q");
    assert_eq!(out.as_deref(), Ok("partial"));
    assert!(host.logs.iter().any(|(l, _)| *l == Level::Warn));
}

#[test]
fn a_turns_tool_calls_go_in_one_batch_in_order() {
    let mut fake = host(vec![
        asks_for(&[
            ("c1", "search", "{\"q\":1}"),
            ("c2", "nope", "{}"),
            ("c3", "search", "{\"q\":3}"),
        ]),
        answer("done"),
    ]);
    let answer = AgentLoop::new("sys").run_on(&mut fake, "hi").unwrap();
    assert_eq!(answer, "done");
    assert_eq!(fake.batches, vec![3], "one batch of three");
    let results: Vec<&str> = fake.requests[1]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(results.len(), 3);
    assert!(
        results[0].contains("\"q\":1") && results[2].contains("\"q\":3"),
        "{results:?}"
    );
    assert!(results[1].starts_with("error: not found"), "{results:?}");
}

#[test]
fn sub_agents_are_tools_and_a_handoff_ends_the_loop() {
    let mut fake = host(vec![
        asks_for(&[
            ("a", "agent_researcher", "{\"input\":\"topic one\"}"),
            ("b", "search", "{}"),
        ]),
        asks_for(&[("h", "handoff_researcher", "{\"input\":\"write it up\"}")]),
    ]);
    let agent = AgentLoop::new("sys")
        .agent("researcher", "researches a topic")
        .handoff("researcher", "writes the final answer");
    let answer = agent.run_on(&mut fake, "hi").unwrap();
    assert_eq!(answer, "answer of child-2");
    assert_eq!(
        fake.spawned,
        vec![
            ("researcher".to_string(), "topic one".to_string()),
            ("researcher".to_string(), "write it up".to_string())
        ]
    );
    let offered: Vec<&str> = fake.requests[0]
        .tools
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert!(offered.contains(&"agent_researcher") && offered.contains(&"handoff_researcher"));
    let first_results: Vec<&str> = fake.requests[1]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(first_results[0], "answer of child-1");
}
