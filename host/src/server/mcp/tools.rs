//! The tools relive offers an MCP client. Each answers a JSON object
//! (`structuredContent`, with a text copy); a refusal — an unknown agent or
//! run, an answer to a run that does not wait for it — is a tool error
//! (`isError`) whose text says what to do instead.

use super::ReliveMcp;
use crate::journal::{ApprovalAnswer, RunRecord, RunStatus, SignalAnswer, Waiting, now_ms};
use crate::server::api::run_view;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The longest a tool waits for a run (`wait_secs`).
const MAX_WAIT_SECS: u64 = 300;
/// Entries `show_run` returns at most (the last ones).
const MAX_ENTRIES: usize = 200;
/// Who the journal says answered, for answers given over MCP.
const BY: &str = "mcp";

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct StartRun {
    /// The agent to run: a name from `list_agents`.
    agent: String,
    /// The agent's input.
    #[serde(default)]
    input: String,
    /// Seconds to wait for the run to end or to wait for something
    /// (an approval, a signal, a timer) before answering; 0 (the default)
    /// answers at once. At most 300.
    #[serde(default)]
    wait_secs: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ListRuns {
    /// Only runs in this status: running, suspended, completed, failed,
    /// diverged, uncertain or cancelled.
    status: Option<String>,
    /// Only runs of this agent.
    agent: Option<String>,
    /// Most runs listed, newest first (default 20, at most 1000).
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ShowRun {
    /// The run's id (or a unique prefix of it).
    run: String,
    /// Also return the run's journal entries (the last 200).
    #[serde(default)]
    entries: bool,
    /// Seconds to wait for the run to end or to wait for something new
    /// before answering (at most 300).
    #[serde(default)]
    wait_secs: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct Approve {
    /// The run waiting for an approval.
    run: String,
    /// A note for the journal.
    note: Option<String>,
    /// Replaces what the agent asked to do (e.g. an edited message, or a
    /// tool call's edited JSON arguments).
    details: Option<String>,
    /// Seconds to wait for the run to go on to its end or its next wait.
    #[serde(default)]
    wait_secs: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct Reject {
    /// The run waiting for an approval.
    run: String,
    /// Why: the agent is told.
    reason: String,
    /// Seconds to wait for the run to go on to its end or its next wait.
    #[serde(default)]
    wait_secs: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct Signal {
    /// The run waiting for the signal.
    run: String,
    /// The signal's name, as the run waits for it.
    name: String,
    /// The signal's data: any JSON.
    data: Option<Value>,
    /// Seconds to wait for the run to go on to its end or its next wait.
    #[serde(default)]
    wait_secs: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct CancelRun {
    /// The run to stop for good.
    run: String,
    /// Why, for the journal.
    reason: Option<String>,
}

/// A successful answer.
fn ok(value: Value) -> Result<CallToolResult, rmcp::ErrorData> {
    Ok(CallToolResult::structured(value))
}

/// A refusal the client should read.
fn refused(message: impl std::fmt::Display) -> Result<CallToolResult, rmcp::ErrorData> {
    Ok(CallToolResult::error(vec![ContentBlock::text(
        message.to_string(),
    )]))
}

#[tool_router(vis = "pub(super)")]
impl ReliveMcp {
    #[tool(
        description = "List the agents relive can run (from its relive.toml), with the models and tools each is granted.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_agents(&self) -> Result<CallToolResult, rmcp::ErrorData> {
        let config = &self.service.config;
        let agents: Vec<Value> = config
            .agents
            .iter()
            .map(|(name, a)| {
                json!({
                    "name": name,
                    "models": a.models,
                    "tools": a.tools,
                    "component": a.component,
                    "runnable": self.service.configured_component(name).is_some(),
                })
            })
            .collect();
        ok(json!({ "agents": agents, "config": config.describe_source() }))
    }

    #[tool(
        description = "Start a run of an agent with an input. The run is durable: it survives crashes and continues where it stopped. Answers the run (id, status, output when it ended); give wait_secs to wait for its end.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn start_run(
        &self,
        Parameters(args): Parameters<StartRun>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        let service = &self.service;
        if service.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return refused("relive is shutting down; start the run on the next one");
        }
        if !service.config.agents.contains_key(&args.agent) {
            let known: Vec<&str> = service.config.agents.keys().map(String::as_str).collect();
            return refused(format!(
                "no agent `{}` in {}; configured agents: {}",
                args.agent,
                service.config.describe_source(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        let Some(digest) = service.configured_component(&args.agent) else {
            return refused(format!(
                "agent `{}` has no usable `component` in {}; set component = \"path/to/agent.wasm\" under [agents.{}]",
                args.agent,
                service.config.describe_source(),
                args.agent
            ));
        };
        if let Err(e) = service
            .runtime
            .grants(&service.config, &args.agent, None)
            .await
        {
            return refused(format!("agent `{}`: {e:#}", args.agent));
        }
        let run = match service.create_run(&args.agent, &digest, args.input).await {
            Ok(run) => run,
            Err(e) => return refused(e),
        };
        self.answer_after_wait(run, None, args.wait_secs).await
    }

    #[tool(
        description = "List runs, newest first, optionally only those of one status (e.g. suspended: waiting for an approval or a signal) or one agent.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_runs(
        &self,
        Parameters(args): Parameters<ListRuns>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        let status = match args.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match s.parse::<RunStatus>() {
                Ok(status) => Some(status),
                Err(e) => {
                    let all = RunStatus::ALL.map(|s| s.as_str()).join(", ");
                    return refused(format!("{e}; use one of: {all}"));
                }
            },
        };
        let query = crate::journal::RunQuery {
            status,
            agent: args.agent.filter(|a| !a.is_empty()),
            limit: args.limit.unwrap_or(20).clamp(1, 1000),
            ..Default::default()
        };
        let service = self.service.clone();
        let runs = tokio::task::spawn_blocking(move || {
            let runs = service.journal.runs(&query)?;
            let views: Vec<Value> = runs.iter().map(|r| run_view(&service, r)).collect();
            Ok::<_, crate::journal::JournalError>(views)
        })
        .await;
        match runs {
            Ok(Ok(runs)) => ok(json!({ "runs": runs })),
            Ok(Err(e)) => refused(e),
            Err(e) => refused(format!("reading the journal failed: {e}")),
        }
    }

    #[tool(
        description = "Show one run: its status, input, output or error, what it waits for, tokens and cost; with entries=true also its journal (every LLM and tool call with request and answer).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn show_run(
        &self,
        Parameters(args): Parameters<ShowRun>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        let run = match self.find(&args.run).await {
            Ok(run) => run,
            Err(e) => return refused(e),
        };
        let waiting = self.waiting_seq(&run).await;
        let run = self.wait_for(run, waiting, args.wait_secs).await;
        let mut view = run_view(&self.service, &run);
        if args.entries {
            let journal = self.service.journal.clone();
            let id = run.id.clone();
            let entries = tokio::task::spawn_blocking(move || journal.entries(&id))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let skip = entries.len().saturating_sub(MAX_ENTRIES);
            view["entries"] = Value::Array(
                entries[skip..]
                    .iter()
                    .map(crate::server::api::entry_view)
                    .collect(),
            );
        }
        ok(view)
    }

    #[tool(
        description = "Approve the action a run waits for (its `waiting` says what); the run then goes on. `details` replaces what the agent asked to do.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn approve(
        &self,
        Parameters(args): Parameters<Approve>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        let answer = ApprovalAnswer::Approved {
            details: args.details,
            note: args.note,
            by: Some(BY.into()),
            at_ms: Some(now_ms()),
        };
        self.answer(&args.run, Answer::Approval(answer), args.wait_secs)
            .await
    }

    #[tool(
        description = "Reject the action a run waits for; the agent is told the reason and goes on without it.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn reject(
        &self,
        Parameters(args): Parameters<Reject>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        if args.reason.trim().is_empty() {
            return refused("a rejection needs a reason: the agent is told it");
        }
        let answer = ApprovalAnswer::Rejected {
            reason: args.reason,
            by: Some(BY.into()),
            at_ms: Some(now_ms()),
        };
        self.answer(&args.run, Answer::Approval(answer), args.wait_secs)
            .await
    }

    #[tool(
        description = "Deliver the signal a run waits for (an outside event, with any JSON data); the run then goes on.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn signal(
        &self,
        Parameters(args): Parameters<Signal>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        let answer = SignalAnswer {
            payload: args.data.map(|d| d.to_string()),
            timed_out: false,
            by: Some(BY.into()),
            at_ms: Some(now_ms()),
        };
        let name = args.name;
        self.answer(&args.run, Answer::Signal { name, answer }, args.wait_secs)
            .await
    }

    #[tool(
        description = "Stop an unfinished run for good (and the runs it started); it is marked cancelled and never resumed.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn cancel_run(
        &self,
        Parameters(args): Parameters<CancelRun>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        let run = match self.find(&args.run).await {
            Ok(run) => run,
            Err(e) => return refused(e),
        };
        if let Err(e) = self.service.cancel(&run, args.reason.as_deref()).await {
            return refused(e);
        }
        match self.find(&run.id).await {
            Ok(run) => ok(run_view(&self.service, &run)),
            Err(e) => refused(e),
        }
    }
}

/// An answer to what a run waits for.
enum Answer {
    Approval(ApprovalAnswer),
    Signal { name: String, answer: SignalAnswer },
}

impl ReliveMcp {
    /// The run `id` (or a unique prefix), read off the async threads.
    async fn find(&self, id: &str) -> Result<RunRecord, String> {
        let journal = self.service.journal.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || journal.find_run(&id))
            .await
            .map_err(|e| format!("reading the journal failed: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// The journal position of what `run` waits for, if it waits.
    async fn waiting_seq(&self, run: &RunRecord) -> Option<u64> {
        let journal = self.service.journal.clone();
        let id = run.id.clone();
        tokio::task::spawn_blocking(move || journal.summary(&id).ok())
            .await
            .ok()
            .flatten()
            .and_then(|s| s.last.as_ref().and_then(Waiting::of))
            .map(|w| w.seq)
    }

    /// Records an answer (one journal transaction), wakes the scheduler to
    /// go on with the run, and answers the run.
    async fn answer(
        &self,
        id: &str,
        answer: Answer,
        wait_secs: u64,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        let journal = self.service.journal.clone();
        let id = id.to_string();
        let recorded = tokio::task::spawn_blocking(move || {
            let journal = &*journal;
            let (run, waiting) = match &answer {
                Answer::Approval(a) => crate::control::answers::decide(journal, &id, a)?,
                Answer::Signal { name, answer } => {
                    crate::control::answers::signal(journal, &id, name, answer)?
                }
            };
            Ok::<_, crate::control::answers::AnswerError>((run, waiting))
        })
        .await;
        let (run, waiting) = match recorded {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return refused(e),
            Err(e) => return refused(format!("recording the answer failed: {e}")),
        };
        self.service.wake.notify_one();
        self.service.publish_status(&run.id);
        let run = self.find(&run.id).await.unwrap_or(run);
        self.answer_after_wait(run, Some(waiting.seq), wait_secs)
            .await
    }

    /// `run`, after waiting up to `wait_secs` (see [`ReliveMcp::wait_for`]).
    async fn answer_after_wait(
        &self,
        run: RunRecord,
        answered: Option<u64>,
        wait_secs: u64,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        let run = self.wait_for(run, answered, wait_secs).await;
        ok(run_view(&self.service, &run))
    }

    /// Waits up to `secs` for `run` to end, or to wait for something other
    /// than the wait at `seq`; returns it as it is then.
    async fn wait_for(&self, run: RunRecord, seq: Option<u64>, secs: u64) -> RunRecord {
        let deadline = Instant::now() + Duration::from_secs(secs.min(MAX_WAIT_SECS));
        let mut run = run;
        loop {
            let settled = run.status.is_final()
                || run.status == RunStatus::Uncertain
                || (run.status == RunStatus::Suspended && {
                    let now = self.waiting_seq(&run).await;
                    now.is_some() && now != seq
                });
            if settled || Instant::now() >= deadline {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(fresh) = self.find(&run.id).await {
                run = fresh;
            }
        }
    }
}
