//! `relive:agent/tools`: calls of the tools the operator granted, journaled
//! as external calls; idempotency and approval come from the run's policy.

use super::bindings::{wit_tools, wit_types};
use super::{HostState, decode, encode};
use crate::engine::Effect;
use crate::journal::{ApprovalAnswer, Completion, EntryKind};
use crate::llm::ToolSpec;
use crate::tools::{ToolContext, ToolError};

impl wit_tools::Host for HostState {
    async fn call(
        &mut self,
        name: String,
        arguments: String,
    ) -> wasmtime::Result<Result<String, wit_tools::ToolError>> {
        self.check_size("tools.call arguments", arguments.len())?;
        let mut tool = self.grants.tool(&name).cloned();
        let mut arguments = arguments;
        // Decided by the run's policy, not by whether the tool is granted
        // now: a replay asks the same approvals the run asked.
        if self.grants.policy.needs_approval(&name) {
            // The operator wants a person to approve each call: ask first
            // (a journaled wait); a rejection becomes the tool's error.
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
        let run_id = self.recorder.run_id().to_string();
        let max_result_bytes = self.grants.limits.max_call_bytes;
        let tool_name = name.clone();
        let result = self
            .recorder
            .external(EntryKind::Tool, &name, request, effect, |seq| async move {
                let outcome: Result<String, ToolError> = match tool {
                    Err(e) => Err(e),
                    Ok(tool) => {
                        if let Some(e) = invalid {
                            Err(ToolError::InvalidArguments(format!(
                                "arguments of tool `{tool_name}` are not valid JSON: {e}"
                            )))
                        } else {
                            let ctx = ToolContext {
                                idempotency_key: crate::engine::idempotency_key(&run_id, seq),
                                run_id,
                                seq,
                                max_result_bytes,
                            };
                            tool.call(&ctx, &arguments).await
                        }
                    }
                };
                Completion {
                    response: encode(&outcome),
                    ..Completion::default()
                }
            })
            .await;
        let text = result.map_err(|stop| self.recorder.fail(stop))?;
        self.check_size("tools.call result", text.len())?;
        let outcome: Result<String, ToolError> = decode(&mut self.recorder, &text)?;
        Ok(outcome.map_err(Into::into))
    }

    async fn list(&mut self) -> wasmtime::Result<Vec<wit_types::ToolSpec>> {
        let specs = self.grants.tool_specs();
        let text = self
            .recorder
            .local(EntryKind::ToolList, "list", "null".into(), || {
                encode(&specs)
            })
            .map_err(|stop| self.recorder.fail(stop))?;
        let specs: Vec<ToolSpec> = decode(&mut self.recorder, &text)?;
        Ok(specs.into_iter().map(Into::into).collect())
    }
}
