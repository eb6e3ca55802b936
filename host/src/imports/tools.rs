//! `relive:agent/tools`: calls of the tools the operator granted, journaled
//! as external calls; idempotency and approval come from the run's policy.

use super::bindings::{wit_tools, wit_types};
use super::{HostState, decode, encode};
use crate::engine::{BatchCall, BoxFuture, Effect};
use crate::journal::{ApprovalAnswer, Completion, EntryKind};
use crate::llm::ToolSpec;
use crate::tools::{ToolContext, ToolError};

impl wit_tools::Host for HostState {
    async fn call(
        &mut self,
        name: String,
        arguments: String,
    ) -> wasmtime::Result<Result<String, wit_tools::ToolError>> {
        let call = self.prepare_tool(name, arguments).await?;
        let (name, request, effect) = (call.name.clone(), call.request.clone(), call.effect);
        let live = tool_live(self.recorder.run_id().to_string(), call);
        let result = self
            .recorder
            .external(EntryKind::Tool, &name, request, effect, live)
            .await;
        let text = result.map_err(|stop| self.recorder.fail(stop))?;
        self.answer_tool(&name, &text)
    }

    async fn call_batch(
        &mut self,
        calls: Vec<(String, String)>,
    ) -> wasmtime::Result<Vec<Result<String, wit_tools::ToolError>>> {
        // The journal holds the calls in the order given, exactly as if they
        // were made one by one. A call that needs a person's approval ends a
        // group: the calls before it run (concurrently) before the approval
        // is asked, so a run suspended on an approval never leaves a call
        // started that did not run.
        let names: Vec<String> = calls.iter().map(|(name, _)| name.clone()).collect();
        let mut texts = Vec::with_capacity(calls.len());
        let mut group = Vec::new();
        for (name, arguments) in calls {
            if self.grants.policy.needs_approval(&name) && !group.is_empty() {
                texts.extend(self.run_tools(std::mem::take(&mut group)).await?);
            }
            group.push(self.prepare_tool(name, arguments).await?);
        }
        texts.extend(self.run_tools(group).await?);
        names
            .iter()
            .zip(&texts)
            .map(|(name, text)| self.answer_tool(name, text))
            .collect()
    }
    async fn list(&mut self) -> wasmtime::Result<Vec<wit_types::ToolSpec>> {
        let replayed = self
            .recorder
            .replay_local(EntryKind::ToolList, "list", "null")
            .map_err(|stop| self.recorder.fail(stop))?;
        let text = match replayed {
            Some(text) => text,
            None => {
                // Live: tools that describe themselves from a server (MCP
                // tools of a resumed run) connect first.
                for tool in self.grants.tools.values() {
                    tool.prepare().await;
                }
                let specs = encode(&self.grants.tool_specs());
                self.recorder
                    .record_local(EntryKind::ToolList, "list", "null".into(), specs)
                    .map_err(|stop| self.recorder.fail(stop))?
            }
        };
        let specs: Vec<ToolSpec> = decode(&mut self.recorder, &text)?;
        Ok(specs.into_iter().map(Into::into).collect())
    }
}

/// One tool call, ready for the journal (approved, if it needed it).
struct ToolCall {
    name: String,
    /// The arguments as the journal records them.
    request: String,
    arguments: String,
    tool: Result<std::sync::Arc<dyn crate::tools::Tool>, ToolError>,
    invalid: Option<serde_json::Error>,
    effect: Effect,
    max_result_bytes: usize,
    /// Whether an earlier call of this tool in the run succeeded.
    used_before: bool,
}

impl HostState {
    /// Checks a call's size, asks a person first when the run's policy says
    /// so (a journaled wait; a rejection becomes the tool's error), and
    /// decides whether it may run again after a crash.
    async fn prepare_tool(
        &mut self,
        name: String,
        arguments: String,
    ) -> wasmtime::Result<ToolCall> {
        self.check_size("tools.call arguments", arguments.len())?;
        let mut tool = self.grants.tool(&name).cloned();
        let mut arguments = arguments;
        // Decided by the run's policy, not by whether the tool is granted
        // now: a replay asks the same approvals the run asked.
        if self.grants.policy.needs_approval(&name) {
            let answer = self
                .ask_approval(&format!("tool:{name}"), arguments.clone())
                .await?;
            match answer {
                ApprovalAnswer::Approved { details, .. } => {
                    if let Some(edited) = details {
                        arguments = edited;
                    }
                }
                ApprovalAnswer::Rejected { reason, .. } => {
                    tool = Err(ToolError::Failed(format!(
                        "a person rejected this call of tool `{name}`: {reason}"
                    )));
                }
            }
        }
        let effect = match &tool {
            Ok(_) => self.grants.effect_of(&name),
            // An unknown or refused tool does nothing outside.
            Err(_) => Effect::Idempotent,
        };
        // Checked once, without building a value: every replayed call pays it.
        let invalid = serde_json::from_str::<serde::de::IgnoredAny>(&arguments).err();
        let request = if invalid.is_none() {
            arguments.clone()
        } else {
            encode(&arguments)
        };
        Ok(ToolCall {
            used_before: self.tools_used.contains(&name),
            name,
            request,
            arguments,
            tool,
            invalid,
            effect,
            max_result_bytes: self.grants.limits.max_call_bytes,
        })
    }

    /// Runs a group of prepared calls at once (see `call_batch`).
    async fn run_tools(&mut self, calls: Vec<ToolCall>) -> wasmtime::Result<Vec<String>> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let run_id = self.recorder.run_id().to_string();
        let batch = calls
            .into_iter()
            .map(|call| {
                let (name, request, effect) =
                    (call.name.clone(), call.request.clone(), call.effect);
                let live = tool_live(run_id.clone(), call);
                BatchCall {
                    kind: EntryKind::Tool,
                    name,
                    request,
                    effect,
                    live: Some(Box::new(move |seq| Box::pin(live(seq)))),
                }
            })
            .collect();
        self.recorder
            .external_batch(batch)
            .await
            .map_err(|stop| self.recorder.fail(stop))
    }

    /// The guest's answer from a recorded response of the tool `name`.
    fn answer_tool(
        &mut self,
        name: &str,
        text: &str,
    ) -> wasmtime::Result<Result<String, wit_tools::ToolError>> {
        self.check_size("tools.call result", text.len())?;
        let outcome: Result<String, ToolError> = decode(&mut self.recorder, text)?;
        if outcome.is_ok() && !self.tools_used.contains(name) {
            self.tools_used.insert(name.to_string());
        }
        Ok(outcome.map_err(Into::into))
    }
}

/// What a tool call does live, given its journal position.
fn tool_live(
    run_id: String,
    call: ToolCall,
) -> impl FnOnce(u64) -> BoxFuture<'static, Completion> + Send + 'static {
    move |seq| {
        Box::pin(async move {
            let outcome: Result<String, ToolError> = match call.tool {
                Err(e) => Err(e),
                Ok(_) if call.invalid.is_some() => Err(ToolError::InvalidArguments(format!(
                    "arguments of tool `{}` are not valid JSON: {}",
                    call.name,
                    call.invalid.expect("checked")
                ))),
                Ok(tool) => {
                    let ctx = ToolContext {
                        idempotency_key: crate::engine::idempotency_key(&run_id, seq),
                        run_id,
                        seq,
                        max_result_bytes: call.max_result_bytes,
                        used_before: call.used_before,
                    };
                    tool.call(&ctx, &call.arguments).await
                }
            };
            Completion {
                response: encode(&outcome),
                ..Completion::default()
            }
        })
    }
}
