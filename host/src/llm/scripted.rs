//! A provider that answers from a file: deterministic demos and tests with no
//! model, no network and no key.
//!
//! Reply N of the script answers the N-th LLM call of a run (counting from 0).
//! The answer is a pure function of the script, the call's index and the
//! request, so a call re-issued after a crash gets exactly the answer it would
//! have got the first time — which is what lets the crash-and-resume tests
//! compare a resumed run with an uninterrupted one.
//!
//! ```json
//! { "replies": [
//!     { "content": "", "tool_calls": [
//!         { "id": "call_1", "name": "search", "arguments": { "query": "x" } } ] },
//!     { "content": "final answer", "usage": { "input_tokens": 10, "output_tokens": 5 } },
//!     { "error": { "kind": "unavailable", "message": "simulated outage" } }
//! ] }
//! ```

use super::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider,
    Role, ToolCall, Usage,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The `model` every scripted response reports.
pub const SCRIPTED_MODEL: &str = "scripted";

/// A script that cannot be used: which file, which reply or field, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error(
        "cannot read script {path}: {error}; check the `script` path of the model in relive.toml"
    )]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not a valid script; `field` is a path such as
    /// `replies[2].tool_calls[0]`.
    #[error("invalid script {path}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// A language model that answers from a script file (see the module docs).
#[derive(Clone, Debug)]
pub struct ScriptedProvider {
    path: PathBuf,
    replies: Vec<Reply>,
}

/// One validated reply: the message (a tool call with an empty id gets one
/// derived from the call index) and its usage, or the error to return.
type Reply = Result<(Message, Option<Usage>), LlmError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    replies: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyFile {
    #[serde(default)]
    content: String,
    #[serde(default)]
    tool_calls: Vec<Value>,
    usage: Option<Value>,
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCallFile {
    #[serde(default)]
    id: String,
    name: String,
    #[serde(default = "empty_object")]
    arguments: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorFile {
    kind: String,
    message: Option<String>,
}

const FILE_EXAMPLE: &str = r#"the file must be an object like {"replies": [{"content": "hello"}]}"#;
const REPLY_EXAMPLE: &str =
    "a reply has content, tool_calls and usage (all optional), or only error";
const CALL_EXAMPLE: &str = r#"write e.g. {"id": "call_1", "name": "search", "arguments": {"query": "x"}}; id and arguments are optional"#;
const USAGE_EXAMPLE: &str =
    r#"write e.g. {"input_tokens": 10, "output_tokens": 5}, or leave usage out for an estimate"#;
const ERROR_EXAMPLE: &str = r#"write e.g. {"kind": "unavailable", "message": "simulated outage"}"#;

impl ScriptedProvider {
    /// Reads and validates the script at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|error| ScriptError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Validates the script `text`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScriptError> {
        let parser = Parser { path };
        let value: Value = serde_json::from_str(text).map_err(|e| {
            parser.invalid("(file)", format!("not valid JSON ({e}); {FILE_EXAMPLE}"))
        })?;
        let file: ScriptFile = parser.field(value, "(top level)", FILE_EXAMPLE)?;
        let replies = file.replies.into_iter().enumerate();
        let replies = replies.map(|(i, reply)| parser.reply(reply, &format!("replies[{i}]")));
        let replies = replies.collect::<Result<_, _>>()?;
        Ok(ScriptedProvider {
            path: path.to_path_buf(),
            replies,
        })
    }

    /// How many replies the script holds.
    pub fn reply_count(&self) -> usize {
        self.replies.len()
    }

    /// The answer to call number `call_index`: a pure function of the script,
    /// the index and the request.
    pub fn reply(&self, call_index: u64, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let reply = usize::try_from(call_index)
            .ok()
            .and_then(|i| self.replies.get(i));
        let Some(reply) = reply else {
            return Err(LlmError::Unavailable(format!(
                "script {} has {} replies but the agent made LLM call #{}; add a reply to the script",
                self.path.display(),
                self.replies.len(),
                u128::from(call_index) + 1,
            )));
        };
        let (mut message, usage) = reply.clone()?;
        for (n, call) in message.tool_calls.iter_mut().enumerate() {
            if call.id.is_empty() {
                call.id = format!("call_{call_index}_{n}");
            }
        }
        let finish_reason = if message.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        Ok(ChatResponse {
            usage: usage.unwrap_or_else(|| estimate_usage(request, &message)),
            message,
            finish_reason,
            model: SCRIPTED_MODEL.to_string(),
        })
    }
}

impl Provider for ScriptedProvider {
    fn chat<'a>(
        &'a self,
        ctx: &'a CallContext,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move { self.reply(ctx.call_index, request) })
    }
}

/// Validates a script, naming the file and the field in every error.
struct Parser<'a> {
    path: &'a Path,
}

impl Parser<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> ScriptError {
        let (path, field) = (self.path.to_path_buf(), field.to_string());
        ScriptError::Invalid {
            path,
            field,
            message: message.into(),
        }
    }

    /// Deserialises `value`, found at `field`; `example` says how to fix it.
    fn field<T: DeserializeOwned>(
        &self,
        value: Value,
        field: &str,
        example: &str,
    ) -> Result<T, ScriptError> {
        serde_json::from_value(value).map_err(|e| self.invalid(field, format!("{e}; {example}")))
    }

    fn reply(&self, value: Value, field: &str) -> Result<Reply, ScriptError> {
        let reply: ReplyFile = self.field(value, field, REPLY_EXAMPLE)?;
        if let Some(error) = reply.error {
            if !reply.content.is_empty() || !reply.tool_calls.is_empty() || reply.usage.is_some() {
                let why = "a reply with `error` cannot also have content, tool_calls or usage; split it into two replies";
                return Err(self.invalid(field, why));
            }
            let field = format!("{field}.error");
            let error: ErrorFile = self.field(error, &field, ERROR_EXAMPLE)?;
            let message = error
                .message
                .unwrap_or_else(|| "scripted error".to_string());
            return Ok(Err(match error.kind.as_str() {
                "denied" => LlmError::Denied(message),
                "invalid_request" => LlmError::InvalidRequest(message),
                "unavailable" => LlmError::Unavailable(message),
                other => {
                    let why = format!(
                        "unknown kind `{other}`; use denied, invalid_request or unavailable"
                    );
                    return Err(self.invalid(&format!("{field}.kind"), why));
                }
            }));
        }
        let usage = match reply.usage {
            Some(usage) => Some(self.field(usage, &format!("{field}.usage"), USAGE_EXAMPLE)?),
            None => None,
        };
        let mut tool_calls = Vec::with_capacity(reply.tool_calls.len());
        for (j, call) in reply.tool_calls.into_iter().enumerate() {
            let field = format!("{field}.tool_calls[{j}]");
            let call: ToolCallFile = self.field(call, &field, CALL_EXAMPLE)?;
            if call.name.is_empty() {
                let why = "is empty; name one of the tools the agent offers";
                return Err(self.invalid(&format!("{field}.name"), why));
            }
            let arguments = call.arguments.to_string();
            tool_calls.push(ToolCall {
                id: call.id,
                name: call.name,
                arguments,
            });
        }
        let message = Message {
            role: Role::Assistant,
            content: reply.content,
            tool_calls,
            tool_call_id: None,
        };
        Ok(Ok((message, usage)))
    }
}

/// A deterministic stand-in for real token counts: one token per four
/// characters (rounded up) of everything sent and everything answered.
fn estimate_usage(request: &ChatRequest, reply: &Message) -> Usage {
    fn message_chars(m: &Message) -> usize {
        m.content.chars().count()
            + m.tool_calls
                .iter()
                .map(|c| c.name.chars().count() + c.arguments.chars().count())
                .sum::<usize>()
    }
    let input = request.messages.iter().map(message_chars).sum::<usize>()
        + request
            .tools
            .iter()
            .map(|t| {
                t.name.chars().count()
                    + t.description.chars().count()
                    + t.parameters.chars().count()
            })
            .sum::<usize>();
    let tokens = |chars: usize| u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX);
    Usage {
        input_tokens: tokens(input),
        output_tokens: tokens(message_chars(reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXAMPLE: &str = r#"{ "replies": [
        { "content": "", "tool_calls": [
            { "id": "call_1", "name": "search", "arguments": { "query": "x" } },
            { "name": "read" } ] },
        { "content": "final answer", "usage": { "input_tokens": 10, "output_tokens": 5 } },
        { "error": { "kind": "unavailable", "message": "simulated outage" } }
    ] }"#;

    fn script(text: &str) -> Result<ScriptedProvider, ScriptError> {
        ScriptedProvider::parse(text, Path::new("demo/script.json"))
    }

    fn ask(text: &str) -> ChatRequest {
        serde_json::from_value(json!({"messages": [{"role": "user", "content": text}]})).unwrap()
    }

    fn answer(p: &ScriptedProvider, call_index: u64) -> Value {
        serde_json::to_value(p.reply(call_index, &ask("find x"))).unwrap()
    }

    #[test]
    fn replies_are_answered_in_call_order() {
        let p = script(EXAMPLE).unwrap();
        assert_eq!(p.reply_count(), 3);
        let calls = json!([
            {"id": "call_1", "name": "search", "arguments": "{\"query\":\"x\"}"},
            {"id": "call_0_1", "name": "read", "arguments": "{}"},
        ]);
        // Estimated usage: "find x" is 6 characters in; "search", its
        // arguments, "read" and "{}" are 25 out; a token per 4, rounded up.
        let first = json!({"Ok": {"model": "scripted", "finish_reason": "tool_calls",
            "usage": {"input_tokens": 2, "output_tokens": 7},
            "message": {"role": "assistant", "content": "", "tool_calls": calls}}});
        assert_eq!(answer(&p, 0), first);
        let second = json!({"Ok": {"model": "scripted", "finish_reason": "stop",
            "usage": {"input_tokens": 10, "output_tokens": 5},
            "message": {"role": "assistant", "content": "final answer"}}});
        assert_eq!(answer(&p, 1), second);
        let third = json!({"Err": {"kind": "unavailable", "message": "simulated outage"}});
        assert_eq!(answer(&p, 2), third);
    }

    #[test]
    fn a_reissued_call_gets_the_same_answer() {
        let p = script(EXAMPLE).unwrap();
        for i in 0..4 {
            assert_eq!(p.reply(i, &ask("x")), p.reply(i, &ask("x")));
        }
    }

    #[tokio::test]
    async fn chat_answers_the_call_index_of_the_context() {
        let p = script(EXAMPLE).unwrap();
        let (run_id, idempotency_key) = ("r".to_string(), "k".to_string());
        let ctx = CallContext {
            run_id,
            seq: 9,
            call_index: 1,
            idempotency_key,
            events: None,
        };
        let response = p.chat(&ctx, &ask("x")).await.unwrap();
        assert_eq!(response.message.content, "final answer");
    }

    #[test]
    fn usage_is_estimated_from_request_and_reply() {
        let p = script(r#"{"replies": [{"content": "12345678"}]}"#).unwrap();
        let tool = json!({"name": "t", "description": "ab", "parameters": "{}"});
        let request = json!({"messages": [{"role": "user", "content": "abcde"}], "tools": [tool]});
        let response = p
            .reply(0, &serde_json::from_value(request).unwrap())
            .unwrap();
        // 5 + 1 + 2 + 2 = 10 characters in, 8 out; a token per 4, rounded up.
        assert_eq!(
            (response.usage.input_tokens, response.usage.output_tokens),
            (3, 2)
        );
    }

    #[test]
    fn a_call_past_the_end_says_how_to_fix_it() {
        let p = script(r#"{"replies": [{"content": "a"}, {"content": "b"}]}"#).unwrap();
        let expected = "script demo/script.json has 2 replies but the agent made LLM call #3; add a reply to the script";
        assert_eq!(
            p.reply(2, &ask("x")),
            Err(LlmError::Unavailable(expected.into()))
        );
        assert!(p.reply(u64::MAX, &ask("x")).is_err());
        let empty = script(r#"{"replies": []}"#).unwrap();
        assert!(
            empty.reply(0, &ask("x")).is_err(),
            "an empty script is valid"
        );
    }

    #[test]
    fn every_error_kind_can_be_scripted() {
        let text = r#"{"replies": [{"error": {"kind": "denied", "message": "no"}},
            {"error": {"kind": "invalid_request"}}]}"#;
        let p = script(text).unwrap();
        assert_eq!(p.reply(0, &ask("x")), Err(LlmError::Denied("no".into())));
        let scripted = LlmError::InvalidRequest("scripted error".into());
        assert_eq!(p.reply(1, &ask("x")), Err(scripted));
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let cases = [
            ("{not json", "(file): not valid JSON"),
            (r#"{"reply": []}"#, "(top level): unknown field `reply`"),
            (
                r#"{"replies": [{}, {"contnet": "b"}]}"#,
                "replies[1]: unknown field `contnet`",
            ),
            (
                r#"{"replies": [{"tool_calls": [{"name": "t"}, {"id": "b"}]}]}"#,
                "replies[0].tool_calls[1]: missing field `name`; write e.g.",
            ),
            (
                r#"{"replies": [{"tool_calls": [{"name": ""}]}]}"#,
                "replies[0].tool_calls[0].name: is empty",
            ),
            (
                r#"{"replies": [{"error": {"kind": "outage"}}]}"#,
                "replies[0].error.kind: unknown kind `outage`; use denied, invalid_request or unavailable",
            ),
            (
                r#"{"replies": [{"usage": {"input_tokens": -1}}]}"#,
                "replies[0].usage: invalid value",
            ),
            (
                r#"{"replies": [{"content": "a", "error": {"kind": "denied"}}]}"#,
                "replies[0]: a reply with `error` cannot also have content",
            ),
        ];
        for (text, expected) in cases {
            let err = script(text).unwrap_err().to_string();
            let expected = format!("invalid script demo/script.json: {expected}");
            assert!(
                err.starts_with(&expected),
                "{err:?} does not start with {expected:?}"
            );
        }
    }

    #[test]
    fn from_file_reads_the_file_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.json");
        std::fs::write(&path, EXAMPLE).unwrap();
        assert_eq!(ScriptedProvider::from_file(&path).unwrap().reply_count(), 3);
        let missing = dir.path().join("missing.json");
        let err = ScriptedProvider::from_file(&missing)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read script "), "{err}");
        assert!(
            err.contains("missing.json") && err.contains("relive.toml"),
            "{err}"
        );
    }
}
