//! Child runs: how the runtime starts a child an agent spawns, tells a
//! parent how its children ended, and — for `relive run` and `resume`,
//! which have no scheduler — executes a tree of runs in one process.

use super::{Outcome, RunReport, Runtime};
use crate::config::Config;
use crate::engine::{BoxFuture, Observer, TimerPolicy};
use crate::imports::Children;
use crate::journal::{
    ChildResult, EntryKind, JoinAnswer, Journal, NewRun, RunQuery, RunStatus, component_digest,
};
use std::sync::Arc;

/// The runtime's side of `relive:agent/agents` for one execution.
pub(super) struct RunChildren {
    pub journal: Arc<dyn Journal>,
    pub config: Arc<Config>,
    /// The MCP servers, whose tools a child run may be granted.
    pub mcp: Arc<crate::tools::mcp::McpPool>,
    /// Called when a child is created, so a scheduler can start it at once.
    pub wake: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Children for RunChildren {
    fn start<'a>(
        &'a self,
        parent: &'a str,
        child: &'a str,
        agent: &'a str,
        input: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if self.journal.find_run(child).is_ok() {
                return Ok(()); // started before a crash: the same child
            }
            let config = &self.config;
            let component = config
                .agents
                .get(agent)
                .and_then(|a| a.component.as_ref())
                .ok_or_else(|| {
                    format!(
                        "agent `{agent}` has no component; add component = \"path/to/{agent}.wasm\" under [agents.{agent}] in {}",
                        config.describe_source()
                    )
                })?;
            let path = config.resolve(component);
            let bytes = std::fs::read(&path).map_err(|e| {
                format!(
                    "cannot read the component of agent `{agent}`, {}: {e}",
                    path.display()
                )
            })?;
            let digest = component_digest(&bytes);
            let mut grants = super::build_grants(config, agent).map_err(|e| format!("{e:#}"))?;
            super::grant_mcp_tools(&mut grants, config, &self.mcp, None)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let parent_run = self.journal.find_run(parent).map_err(|e| e.to_string())?;
            self.journal
                .put_component(&digest, &bytes)
                .wait()
                .await
                .map_err(|e| e.to_string())?;
            let run = NewRun {
                id: child.to_string(),
                agent: agent.to_string(),
                component_digest: digest,
                input: input.to_string(),
                config_path: parent_run.config_path,
                policy: Some(grants.policy.to_value()),
                parent: Some(parent.to_string()),
                lease: None,
            };
            self.journal
                .create_run(run)
                .wait()
                .await
                .map_err(|e| e.to_string())?;
            if let Some(wake) = &self.wake {
                wake();
            }
            Ok(())
        })
    }

    fn outcomes<'a>(
        &'a self,
        children: &'a [String],
    ) -> BoxFuture<'a, Result<Option<JoinAnswer>, String>> {
        Box::pin(async move {
            let journal = self.journal.clone();
            let config = self.config.clone();
            let ids = children.to_vec();
            tokio::task::spawn_blocking(move || outcomes(&*journal, &config, &ids))
                .await
                .map_err(|e| e.to_string())?
        })
    }
}

/// How `children` ended, with what they used; `None` while any has not.
fn outcomes(
    journal: &dyn Journal,
    config: &Config,
    children: &[String],
) -> Result<Option<JoinAnswer>, String> {
    let mut answer = JoinAnswer {
        results: Vec::with_capacity(children.len()),
        input_tokens: 0,
        output_tokens: 0,
        cost: 0.0,
    };
    for child in children {
        let run = journal.find_run(child).map_err(|e| e.to_string())?;
        let (output, error) = (run.output.clone().unwrap_or_default(), run.error.clone());
        let result = match run.status {
            RunStatus::Completed => ChildResult::Completed {
                child: run.id.clone(),
                output,
            },
            RunStatus::Failed | RunStatus::Diverged => ChildResult::Failed {
                child: run.id.clone(),
                error: error.unwrap_or_default(),
            },
            RunStatus::Cancelled => ChildResult::Cancelled {
                child: run.id.clone(),
                error: error.unwrap_or_default(),
            },
            RunStatus::Running | RunStatus::Suspended | RunStatus::Uncertain => return Ok(None),
        };
        let (input, output, cost) = tree_usage(journal, config, &run.id, &run.agent)?;
        answer.input_tokens += input;
        answer.output_tokens += output;
        answer.cost += cost;
        answer.results.push(result);
    }
    Ok(Some(answer))
}

/// Tokens and cost of a run and all its descendants.
fn tree_usage(
    journal: &dyn Journal,
    config: &Config,
    run: &str,
    agent: &str,
) -> Result<(u64, u64, f64), String> {
    let summary = journal.summary(run).map_err(|e| e.to_string())?;
    let mut input: u64 = summary.usage.iter().map(|u| u.input_tokens).sum();
    let mut output: u64 = summary.usage.iter().map(|u| u.output_tokens).sum();
    let mut cost = crate::llm::pricing::usage_cost(
        config,
        agent,
        summary
            .usage
            .iter()
            .map(|u| (u.model.as_str(), u.input_tokens, u.output_tokens)),
    )
    .unwrap_or(0.0);
    for child in children_of(journal, run)? {
        let (i, o, c) = tree_usage(journal, config, &child.id, &child.agent)?;
        input += i;
        output += o;
        cost += c;
    }
    Ok((input, output, cost))
}

/// The child runs of `run`, oldest first.
fn children_of(journal: &dyn Journal, run: &str) -> Result<Vec<crate::journal::RunRecord>, String> {
    let mut children = crate::journal::all_runs_where(
        journal,
        RunQuery {
            parent: Some(run.to_string()),
            ..RunQuery::default()
        },
    )
    .map_err(|e| e.to_string())?;
    children.reverse();
    Ok(children)
}

impl Runtime {
    /// Goes on with a run's tree in this process (`relive run`, `resume`):
    /// while the run waits for child runs, executes those that can go on
    /// (each with its own tree), then resumes the run. Stops when the run
    /// ends, or waits for something no process here can give (an approval,
    /// a signal, a child executed elsewhere).
    pub async fn drive_tree(
        &self,
        mut report: RunReport,
        config: &Config,
        observer: Option<Observer>,
        timers: TimerPolicy,
    ) -> anyhow::Result<RunReport> {
        loop {
            let Outcome::Suspended(waiting) = &report.outcome else {
                return Ok(report);
            };
            if waiting.kind != EntryKind::Join {
                return Ok(report);
            }
            let children =
                children_of(self.journal.as_ref(), &report.run_id).map_err(anyhow::Error::msg)?;
            // The children that can go on, at once (each with its own tree).
            let mut runnable = Vec::new();
            for child in children {
                if !matches!(child.status, RunStatus::Running | RunStatus::Suspended) {
                    continue;
                }
                if child.status == RunStatus::Suspended && !self.is_ready(&child.id)? {
                    continue; // waits for an approval, a timer or a signal
                }
                runnable.push(child);
            }
            let reports = futures_util::future::join_all(runnable.iter().map(|child| async move {
                let report = self.resume(child, config, None, timers).await?;
                Box::pin(self.drive_tree(report, config, None, timers)).await
            }))
            .await;
            let mut progressed = false;
            for report in reports {
                progressed |= report?.outcome.status().is_final();
            }
            if !progressed {
                return Ok(report);
            }
            let run = self.journal.find_run(&report.run_id)?;
            let elapsed = report.elapsed;
            let begun = std::time::Instant::now();
            report = self.resume(&run, config, observer.clone(), timers).await?;
            // The tree's time: children and every resume of the run.
            report.elapsed = elapsed + begun.elapsed();
        }
    }

    /// Whether a suspended run's wait was answered (it is ready to go on).
    fn is_ready(&self, run: &str) -> anyhow::Result<bool> {
        let summary = self.journal.summary(run)?;
        Ok(summary
            .last
            .is_some_and(|e| e.state == crate::journal::EntryState::Completed))
    }
}
