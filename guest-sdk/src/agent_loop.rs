//! The ready-made tool-calling loop most agents need.
//!
//! Ask the model; if it asks for tools, run them, hand back their results and
//! ask again; stop at the first answer without tool calls. Every step is a
//! sequence of journaled host calls, so an interrupted loop resumes exactly
//! where it stopped.

use crate::host::{Host, Imports};
use crate::llm::{ChatRequest, FinishReason, Message, ToolCall, ToolSpec};
use crate::log::Level;

/// Number of model calls [`AgentLoop::run`] makes at most, unless changed with
/// [`AgentLoop::max_steps`].
pub const DEFAULT_MAX_STEPS: u32 = 10;

/// A tool-calling agent loop: a system prompt, the tools offered to the
/// model, and a step limit.
///
/// ```no_run
/// use relive_sdk::AgentLoop;
///
/// let answer = AgentLoop::new("You are a careful researcher.")
///     .model("scripted")
///     .max_steps(5)
///     .run("What is durable execution?")?;
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug)]
pub struct AgentLoop {
    system_prompt: String,
    tools: Option<Vec<ToolSpec>>,
    model: Option<String>,
    max_steps: u32,
}

impl AgentLoop {
    /// A loop with `system_prompt`, every granted tool, the agent's default
    /// model and at most [`DEFAULT_MAX_STEPS`] steps.
    pub fn new(system_prompt: impl Into<String>) -> AgentLoop {
        AgentLoop {
            system_prompt: system_prompt.into(),
            tools: None,
            model: None,
            max_steps: DEFAULT_MAX_STEPS,
        }
    }

    /// Offers exactly `tools` to the model instead of every tool from
    /// [`tools::list`](crate::tools::list).
    pub fn tools(mut self, tools: Vec<ToolSpec>) -> AgentLoop {
        self.tools = Some(tools);
        self
    }

    /// Uses the model `name` (one the operator granted to this agent) instead
    /// of the agent's default.
    pub fn model(mut self, name: impl Into<String>) -> AgentLoop {
        self.model = Some(name.into());
        self
    }

    /// Makes at most `steps` model calls; a step is one model call and the
    /// tool calls it asks for.
    pub fn max_steps(mut self, steps: u32) -> AgentLoop {
        self.max_steps = steps;
        self
    }

    /// Runs the loop on the user message `input` and returns the content of
    /// the model's first answer without tool calls.
    ///
    /// A failing tool does not stop the loop: the model gets `"error: ..."`
    /// as that tool's result and may adapt. The loop fails when the model
    /// cannot be reached, or when the step limit is reached while the model
    /// still asks for tools. Logs one `info` line per step.
    pub fn run(&self, input: &str) -> Result<String, String> {
        self.run_on(&mut Imports, input)
    }

    pub(crate) fn run_on(&self, host: &mut impl Host, input: &str) -> Result<String, String> {
        let tools = match &self.tools {
            Some(tools) => tools.clone(),
            None => host.list_tools(),
        };
        let mut request = ChatRequest::new(vec![
            Message::system(self.system_prompt.as_str()),
            Message::user(input),
        ])
        .tools(tools);
        request.model = self.model.clone();

        for step in 1..=self.max_steps {
            let response = host
                .chat(&request)
                .map_err(|e| format!("agent loop: step {step}: {}", e.describe()))?;
            let message = response.message;
            if message.tool_calls.is_empty() {
                host.log(Level::Info, &format!("step {step}: final answer"));
                if response.finish_reason == FinishReason::Length {
                    host.log(
                        Level::Warn,
                        &format!("step {step}: the answer was cut at the token limit"),
                    );
                }
                return Ok(message.content);
            }
            let names = tool_names(&message.tool_calls);
            if step == self.max_steps {
                return Err(format!(
                    "agent loop: reached the step limit ({}) while the model still asks for \
                     tools ({names}); raise it with AgentLoop::max_steps",
                    self.max_steps
                ));
            }
            let plural = if message.tool_calls.len() == 1 {
                ""
            } else {
                "s"
            };
            host.log(
                Level::Info,
                &format!("step {step}: calling tool{plural} {names}"),
            );
            let calls = message.tool_calls.clone();
            request.messages.push(message);
            for call in calls {
                let content = match host.call_tool(&call.name, &call.arguments) {
                    Ok(result) => result,
                    Err(e) => {
                        let error = e.describe();
                        host.log(
                            Level::Warn,
                            &format!("step {step}: tool {} {error}", call.name),
                        );
                        format!("error: {error}")
                    }
                };
                request
                    .messages
                    .push(Message::tool_result(call.id, content));
            }
        }
        Err(format!(
            "agent loop: the step limit is {}, so the model was never asked; \
             set AgentLoop::max_steps to at least 1",
            self.max_steps
        ))
    }
}

fn tool_names(calls: &[ToolCall]) -> String {
    calls
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "agent_loop_tests.rs"]
mod tests;
