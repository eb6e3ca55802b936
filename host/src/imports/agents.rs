//! `relive:agent/agents`: other agents, run as child runs.
//!
//! `spawn` is an external, idempotent call: it creates the child run, whose
//! id is a pure function of this run's id and the entry's position
//! (`PARENT.SEQ`), so re-executing it after a crash finds the same child
//! instead of starting a second one. `join` is a wait: answered from the
//! journal in a replay; otherwise answered when every child has ended, else
//! the run is suspended (no instance held) and woken when a child ends.
//! `call` is a spawn and a join of one. What the children used counts
//! toward this run's budgets.
//!
//! Creating a child and learning how children ended is the runtime's work:
//! it hands the store a [`Children`].

use super::bindings::wit_agents;
use super::{HostState, decode, encode};
use crate::engine::{BoxFuture, Effect, Stop};
use crate::journal::{
    AnswerJson, ChildResult, Completion, EntryKind, JoinAnswer, JoinRequest, SpawnAnswer,
};
use std::sync::Arc;

/// What the runtime does for this interface.
pub trait Children: Send + Sync {
    /// Creates run `child` of `agent` on `input`, a child of `parent`
    /// (nothing if it exists already: a call re-executed after a crash).
    /// `Err` says why it cannot be started.
    fn start<'a>(
        &'a self,
        parent: &'a str,
        child: &'a str,
        agent: &'a str,
        input: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// How each child ended, in order — or `None` while any has not.
    fn outcomes<'a>(
        &'a self,
        children: &'a [String],
    ) -> BoxFuture<'a, Result<Option<JoinAnswer>, String>>;
}

/// The run id of the child started by entry `seq` of run `parent`.
pub fn child_id(parent: &str, seq: u64) -> String {
    format!("{parent}.{seq}")
}

impl wit_agents::Host for HostState {
    async fn call(
        &mut self,
        agent: String,
        input: String,
    ) -> wasmtime::Result<Result<String, wit_agents::AgentError>> {
        let child = match self.spawn_child(agent, input).await? {
            Ok(child) => child,
            Err(e) => return Ok(Err(e)),
        };
        let mut results = self.join_children(vec![child]).await?;
        Ok(results.remove(0))
    }

    async fn spawn(
        &mut self,
        agent: String,
        input: String,
    ) -> wasmtime::Result<Result<String, wit_agents::AgentError>> {
        self.spawn_child(agent, input).await
    }

    async fn join(
        &mut self,
        children: Vec<String>,
    ) -> wasmtime::Result<Vec<Result<String, wit_agents::AgentError>>> {
        self.join_children(children).await
    }
}

impl HostState {
    async fn spawn_child(
        &mut self,
        agent: String,
        input: String,
    ) -> wasmtime::Result<Result<String, wit_agents::AgentError>> {
        self.check_size("agents.spawn input", input.len() + agent.len())?;
        // A refusal is the spawn's journaled answer, like any other: a
        // replay gives the recorded message (which names the configuration
        // file of the process that ran it), not one made from today's.
        let refused = (!self.grants.policy.may_start(&agent)).then(|| {
            let me = &self.grants.agent;
            format!(
                "agent `{me}` may not start agent `{agent}`; to allow it, add \"{agent}\" to `agents` under [agents.{me}] in {}",
                self.grants.config_source
            )
        });
        let request = encode(&serde_json::json!({ "agent": agent, "input": input }));
        let run_id = self.recorder.run_id().to_string();
        let children = self.children.clone();
        let name = agent.clone();
        let live = move |seq: u64| -> BoxFuture<'static, Completion> {
            Box::pin(async move {
                let child = child_id(&run_id, seq);
                let answer = match (&children, refused) {
                    (_, Some(why)) => SpawnAnswer::Denied(why),
                    (None, None) => SpawnAnswer::Denied("this host cannot start child runs".into()),
                    (Some(c), None) => match c.start(&run_id, &child, &agent, &input).await {
                        Ok(()) => SpawnAnswer::Child(child),
                        Err(why) => SpawnAnswer::Denied(why),
                    },
                };
                Completion {
                    response: answer.to_json(),
                    ..Completion::default()
                }
            })
        };
        let text = self
            .recorder
            .external(EntryKind::Spawn, &name, request, Effect::Idempotent, live)
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        Ok(match decode::<SpawnAnswer>(&mut self.recorder, &text)? {
            SpawnAnswer::Child(child) => Ok(child),
            SpawnAnswer::Denied(why) => Err(wit_agents::AgentError::Denied(why)),
        })
    }

    async fn join_children(
        &mut self,
        children: Vec<String>,
    ) -> wasmtime::Result<Vec<Result<String, wit_agents::AgentError>>> {
        let request = encode(&JoinRequest {
            children: children.clone(),
        });
        let runtime = self.children.clone();
        let check = move || async move {
            let Some(runtime) = runtime else {
                return Err(Stop::Damaged {
                    seq: 0,
                    message: "this host cannot wait for child runs".into(),
                });
            };
            match runtime.outcomes(&children).await {
                Ok(answer) => Ok(answer.map(|a| a.to_json())),
                Err(message) => Err(Stop::Journal(crate::journal::JournalError::Other(message))),
            }
        };
        let text = self
            .recorder
            .await_children(request, check)
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        let answer: JoinAnswer = decode(&mut self.recorder, &text)?;
        // What the children used counts toward this run's budgets.
        self.spend(answer.input_tokens + answer.output_tokens, answer.cost)?;
        Ok(answer
            .results
            .into_iter()
            .map(|r| match r {
                ChildResult::Completed { output, .. } => Ok(output),
                ChildResult::Failed { child, error } => Err(wit_agents::AgentError::Failed(
                    format!("child run {child} failed: {error}"),
                )),
                ChildResult::Cancelled { child, error } => Err(wit_agents::AgentError::Cancelled(
                    format!("child run {child}: {error}"),
                )),
            })
            .collect())
    }
}

/// The store's handle on the runtime, for a run that may start children.
pub type ChildrenHandle = Option<Arc<dyn Children>>;
