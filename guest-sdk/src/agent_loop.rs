//! The ready-made tool-calling loop most agents need.
//!
//! Ask the model; if it asks for tools, run them — all the calls of one turn
//! at once, journaled in the order the model asked — hand back their results
//! and ask again; stop at the first answer without tool calls. Every step is
//! a sequence of journaled host calls, so an interrupted loop resumes exactly
//! where it stopped.
//!
//! Other agents can be offered to the model as tools: [`AgentLoop::agent`]
//! (the model gets the sub-agent's answer and goes on) and
//! [`AgentLoop::handoff`] (the sub-agent's answer is the loop's answer).

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
    agents: Vec<SubAgent>,
}

/// Another agent offered to the model as a tool.
#[derive(Clone, Debug)]
struct SubAgent {
    /// The agent's name (its `[agents.NAME]` table).
    agent: String,
    /// The tool's name the model sees: `agent_NAME` or `handoff_NAME`.
    tool: String,
    description: String,
    /// The child's answer ends the loop.
    handoff: bool,
}

/// The arguments the model gives a sub-agent tool.
const SUB_AGENT_SCHEMA: &str = r#"{"type":"object","properties":{"input":{"type":"string","description":"what to ask the agent"}},"required":["input"]}"#;

impl AgentLoop {
    /// A loop with `system_prompt`, every granted tool, the agent's default
    /// model and at most [`DEFAULT_MAX_STEPS`] steps.
    pub fn new(system_prompt: impl Into<String>) -> AgentLoop {
        AgentLoop {
            system_prompt: system_prompt.into(),
            tools: None,
            model: None,
            max_steps: DEFAULT_MAX_STEPS,
            agents: Vec::new(),
        }
    }

    /// Offers the agent `name` to the model as the tool `agent_NAME`: the
    /// model sends it an input and gets its answer (a child run) back.
    /// The operator must allow it (`agents = ["NAME"]`).
    pub fn agent(mut self, name: &str, description: impl Into<String>) -> AgentLoop {
        self.agents.push(SubAgent {
            agent: name.into(),
            tool: format!("agent_{name}"),
            description: description.into(),
            handoff: false,
        });
        self
    }

    /// Offers a hand-off to the agent `name` as the tool `handoff_NAME`:
    /// when the model calls it, the sub-agent's answer (a child run) is the
    /// loop's answer.
    pub fn handoff(mut self, name: &str, description: impl Into<String>) -> AgentLoop {
        self.agents.push(SubAgent {
            agent: name.into(),
            tool: format!("handoff_{name}"),
            description: description.into(),
            handoff: true,
        });
        self
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
        let mut tools = match &self.tools {
            Some(tools) => tools.clone(),
            None => host.list_tools(),
        };
        tools.extend(self.agents.iter().map(|a| ToolSpec {
            name: a.tool.clone(),
            description: a.description.clone(),
            parameters: SUB_AGENT_SCHEMA.into(),
        }));
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
            let results = self.call_all(host, &calls);
            if let Some(answer) = self.handed_off(&calls, &results) {
                host.log(Level::Info, &format!("step {step}: handed off"));
                return answer;
            }
            for (call, result) in calls.into_iter().zip(results) {
                let content = match result {
                    Ok(result) => result,
                    Err(error) => {
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

    /// Runs one turn's calls at once: the tools in one batch, the
    /// sub-agents as child runs started together and joined. One result per
    /// call, in order; errors as one-line descriptions.
    fn call_all(&self, host: &mut impl Host, calls: &[ToolCall]) -> Vec<Result<String, String>> {
        let sub = |name: &str| self.agents.iter().find(|a| a.tool == name);
        let tool_calls: Vec<(String, String)> = calls
            .iter()
            .filter(|c| sub(&c.name).is_none())
            .map(|c| (c.name.clone(), c.arguments.clone()))
            .collect();
        let mut tool_results = if tool_calls.is_empty() {
            Vec::new()
        } else {
            host.call_tools(&tool_calls)
        }
        .into_iter();
        // Sub-agents: start every child, then wait for them together.
        let spawned: Vec<Option<Result<String, String>>> = calls
            .iter()
            .map(|c| {
                sub(&c.name).map(|a| {
                    let input = sub_agent_input(&c.arguments)?;
                    host.spawn_agent(&a.agent, &input).map_err(|e| e.describe())
                })
            })
            .collect();
        let children: Vec<String> = spawned
            .iter()
            .flatten()
            .filter_map(|s| s.as_ref().ok().cloned())
            .collect();
        let mut answers = if children.is_empty() {
            Vec::new()
        } else {
            host.join_agents(&children)
        }
        .into_iter();
        spawned
            .into_iter()
            .map(|s| match s {
                None => tool_results
                    .next()
                    .expect("one result per tool call")
                    .map_err(|e| e.describe()),
                Some(Err(e)) => Err(e),
                Some(Ok(_)) => answers
                    .next()
                    .expect("one answer per child")
                    .map_err(|e| e.describe()),
            })
            .collect()
    }

    /// The answer of the first hand-off in this turn, if the model asked for
    /// one.
    fn handed_off(
        &self,
        calls: &[ToolCall],
        results: &[Result<String, String>],
    ) -> Option<Result<String, String>> {
        calls.iter().zip(results).find_map(|(call, result)| {
            self.agents
                .iter()
                .find(|a| a.handoff && a.tool == call.name)
                .map(|a| {
                    result
                        .clone()
                        .map_err(|e| format!("agent loop: hand-off to `{}` {e}", a.agent))
                })
        })
    }
}

/// The `input` a model gives a sub-agent tool (or the arguments as they are,
/// when they are not the expected object).
fn sub_agent_input(arguments: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(arguments)
        .map_err(|e| format!("invalid arguments: not JSON ({e})"))?;
    Ok(match value.get("input").and_then(|i| i.as_str()) {
        Some(input) => input.to_string(),
        None => arguments.to_string(),
    })
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
