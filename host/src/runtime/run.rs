//! Executing runs: start a new one, resume one (claim its lease, replay its
//! journal, go on live), and record how each execution ended.

use super::{Execution, Outcome, RunReport, Runtime, StartRequest};
use crate::config::Config;
use crate::engine::{Mode, Observer, Recorder, Stop, TimerPolicy};
use crate::imports::bindings::AgentPre;
use crate::imports::{HostState, RunPolicy};
use crate::journal::{
    Durability, Entry, EntryState, Fence, NewRun, RunRecord, RunStatus, StatusChange,
    component_digest, new_run_id,
};
use anyhow::{Context as _, anyhow, bail};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Store;

impl Runtime {
    pub async fn start(
        &self,
        request: StartRequest<'_>,
        config: &Config,
        observer: Option<Observer>,
        on_created: impl FnOnce(&str),
    ) -> anyhow::Result<RunReport> {
        let StartRequest {
            agent,
            path,
            bytes,
            input,
        } = request;
        let grants = self.grants(config, agent, None).await?;
        let digest = component_digest(bytes);
        let known = self.is_prepared(&digest);
        let pre = self.prepared(&digest, path, bytes, grants.limits.max_component_bytes)?;
        if !known {
            self.journal
                .put_component(&digest, bytes)
                .wait()
                .await
                .context("cannot store the component in the journal")?;
        }
        let run = NewRun {
            id: new_run_id(),
            agent: agent.to_string(),
            component_digest: digest,
            input,
            config_path: config
                .source
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .map(|p| p.display().to_string()),
            policy: Some(grants.policy.to_value()),
            parent: None,
            lease: Some((
                crate::control::leases::me().to_string(),
                crate::control::leases::ttl(),
            )),
        };
        self.journal
            .create_run(run.clone())
            .wait()
            .await
            .context("cannot create the run in the journal")?;
        on_created(&run.id);
        let exec = Execution {
            grants,
            observer,
            mode: Mode::Record(TimerPolicy::Suspend),
            config: Some(Arc::new(config.clone())),
        };
        let fence = Fence::first(&run.id);
        self.execute(&fence, &run.input, &pre, Vec::new(), exec)
            .await
    }

    /// Resumes `run`: claims its lease, replays its journal, then goes on
    /// live. An uncertain run whose interrupted call nobody decided on
    /// yet ends at once as [`Outcome::Uncertain`].
    pub async fn resume(
        &self,
        run: &RunRecord,
        config: &Config,
        observer: Option<Observer>,
        timers: TimerPolicy,
    ) -> anyhow::Result<RunReport> {
        if run.status.is_final() {
            bail!("run {} is {} and cannot be resumed", run.id, run.status);
        }
        if run.status == RunStatus::Uncertain {
            let entries = self.entries_of(&run.id).await?;
            if let Some(last) = entries
                .last()
                .filter(|e| e.state == EntryState::Started && e.resolution.is_none())
            {
                return Ok(RunReport {
                    run_id: run.id.clone(),
                    outcome: Outcome::Uncertain {
                        seq: last.seq,
                        message: format!(
                            "entry #{} ({} `{}`) was interrupted and is not idempotent; decide with `relive resolve {} --retry`, `--result JSON` or `--fail`",
                            last.seq, last.kind, last.name, run.id
                        ),
                    },
                    replayed: 0,
                    elapsed: Duration::ZERO,
                });
            }
        }
        let journal = self.journal.clone();
        let id = run.id.clone();
        let fence =
            tokio::task::spawn_blocking(move || crate::control::leases::acquire(&*journal, &id))
                .await
                .map_err(|e| anyhow!("claiming the run failed: {e}"))??;
        let result = self
            .resume_claimed(run, &fence, config, observer, timers)
            .await;
        if result.is_err() {
            // Let the next attempt (here or elsewhere) claim it at once.
            let _ = self.journal.release(&fence);
        }
        result
    }

    /// Resumes `run`, already claimed by this process with `fence`.
    pub async fn resume_claimed(
        &self,
        run: &RunRecord,
        fence: &Fence,
        config: &Config,
        observer: Option<Observer>,
        timers: TimerPolicy,
    ) -> anyhow::Result<RunReport> {
        let entries = self.entries_of(&run.id).await?;
        // What shapes the journal is the run's own, not today's config.
        let recorded = RunPolicy::from_record(run.policy.as_ref());
        let grants = self.grants(config, &run.agent, recorded.as_ref()).await?;
        let grants = match recorded {
            Some(policy) => grants.with_policy(policy),
            None => {
                self.journal
                    .set_policy(fence, &grants.policy.to_value())
                    .wait()
                    .await?;
                grants
            }
        };
        let cached = self.lock_components().get(&run.component_digest).cloned();
        let pre = match cached {
            Some(pre) => pre,
            None => {
                let bytes = self
                    .journal
                    .component(&run.component_digest)?
                    .ok_or_else(|| {
                        anyhow!(
                            "the journal has no component {} for run {}",
                            run.component_digest,
                            run.id
                        )
                    })?;
                self.prepared(
                    &run.component_digest,
                    &run.component_digest,
                    &bytes,
                    grants.limits.max_component_bytes,
                )?
            }
        };
        if run.status != RunStatus::Running {
            self.journal
                .set_status(fence, StatusChange::Running, Durability::Commit)
                .wait()
                .await?;
        }
        let exec = Execution {
            grants,
            observer,
            mode: Mode::Record(timers),
            config: Some(Arc::new(config.clone())),
        };
        self.execute(fence, &run.input, &pre, entries, exec).await
    }

    /// A run's entries, read off the async threads.
    async fn entries_of(&self, run_id: &str) -> anyhow::Result<Vec<Entry>> {
        let journal = self.journal.clone();
        let id = run_id.to_string();
        Ok(tokio::task::spawn_blocking(move || journal.entries(&id))
            .await
            .map_err(|e| anyhow!("reading the journal failed: {e}"))??)
    }

    /// Replays a recorded journal against a component, calling nothing
    /// live; passes only if every call matches and the output is the same.
    async fn execute(
        &self,
        fence: &Fence,
        input: &str,
        pre: &AgentPre<HostState>,
        recorded: Vec<Entry>,
        exec: Execution,
    ) -> anyhow::Result<RunReport> {
        let report = self
            .run_store(&fence.run_id, Some(fence), input, pre, recorded, exec)
            .await?;
        if report.outcome == Outcome::Interrupted {
            // Left running, for whoever resumes it next.
            self.journal.release(fence)?;
            return Ok(report);
        }
        let change = match &report.outcome {
            Outcome::Suspended(waiting) => StatusChange::Suspended {
                seq: waiting.seq,
                until_ms: waiting.until_ms,
                children: if waiting.kind == crate::journal::EntryKind::Join {
                    waiting
                        .details
                        .as_deref()
                        .unwrap_or("")
                        .split(", ")
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect()
                } else {
                    Vec::new()
                },
            },
            outcome => {
                let (output, error) = outcome.output_and_error();
                StatusChange::Ended {
                    status: outcome.status(),
                    output,
                    error,
                }
            }
        };
        // The end of a run is fsynced: everything before it in the WAL
        // becomes durable with it. One write: status, lease and ready time
        // change together.
        self.journal
            .set_status(fence, change, Durability::Sync)
            .wait()
            .await
            .context("cannot record the end of the run")?;
        Ok(report)
    }

    pub(super) async fn run_store(
        &self,
        run_id: &str,
        fence: Option<&Fence>,
        input: &str,
        pre: &AgentPre<HostState>,
        recorded: Vec<Entry>,
        exec: Execution,
    ) -> anyhow::Result<RunReport> {
        let Execution {
            grants,
            observer,
            mode,
            config,
        } = exec;
        let begun = std::time::Instant::now();
        let replayable = recorded.len();
        let journal = match (mode, fence) {
            (Mode::Record(_), Some(fence)) => Some((self.journal.clone(), fence.clone())),
            _ => None,
        };
        let mut recorder = Recorder::new(run_id.to_string(), journal, recorded, mode, observer);
        if let Mode::Record(timers) = mode {
            recorder.timers = timers;
            recorder.interrupt = Some(self.interrupt.clone());
        }
        let mut store = self.store(run_id, recorder, grants)?;
        if let (Mode::Record(_), Some(config)) = (mode, config) {
            store.data_mut().children = Some(Arc::new(super::children::RunChildren {
                journal: self.journal.clone(),
                mcp: self.mcp.clone(),
                config,
                wake: self.child_wake.clone(),
            }));
        }
        let result = match pre.instantiate_async(&mut store).await {
            Ok(agent) => agent.call_run(&mut store, input).await,
            Err(e) => Err(e),
        };
        let recorder = &mut store.data_mut().recorder;
        let replayed = replayable.min(recorder.next_seq() as usize);
        let stop = recorder.stop.take().or_else(|| match &result {
            Ok(_) => recorder.finish().err(),
            Err(_) => None,
        });
        let outcome = match outcome_of(run_id, stop, result, store.data_mut()) {
            Ok(outcome) => outcome,
            Err(stop) => {
                // The host could not do its part (journal I/O, damaged
                // entries): the run is left as it was, to be resumed.
                return Err(anyhow!(stop).context(format!("run {run_id} stopped")));
            }
        };
        Ok(RunReport {
            run_id: run_id.to_string(),
            outcome,
            replayed,
            elapsed: begun.elapsed(),
        })
    }

    /// A store for one execution: the run's host state, its memory limiter
    /// and its fuel.
    fn store(
        &self,
        run_id: &str,
        recorder: Recorder,
        grants: crate::imports::Grants,
    ) -> anyhow::Result<Store<HostState>> {
        let wasi = super::sandbox::wasi_ctx(run_id, recorder.replaying_flag());
        let fuel = grants.limits.fuel;
        let mut store = Store::new(&self.engine, HostState::new(wasi, recorder, grants));
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(fuel)?;
        store.fuel_async_yield_interval(Some(crate::config::limits::FUEL_YIELD_INTERVAL))?;
        Ok(store)
    }
}

/// How an execution ended, from why the host stopped it (if it did) and
/// what the guest returned; `Err` when the host could not do its part.
fn outcome_of(
    run_id: &str,
    stop: Option<Stop>,
    result: wasmtime::Result<Result<String, String>>,
    state: &mut HostState,
) -> Result<Outcome, Stop> {
    Ok(match (stop, result) {
        (Some(Stop::Diverged(d)), _) => Outcome::Diverged(d),
        (Some(Stop::Suspended(waiting)), _) => Outcome::Suspended(waiting),
        (Some(Stop::Interrupted), _) => Outcome::Interrupted,
        (Some(Stop::Budget(message) | Stop::Limit(message)), _) => {
            Outcome::Failed { error: message }
        }
        (Some(stop @ Stop::Uncertain { .. }), _) => {
            let Stop::Uncertain { seq, .. } = &stop else {
                unreachable!()
            };
            Outcome::Uncertain {
                seq: *seq,
                message: format!(
                    "{stop}; decide with `relive resolve {run_id} --retry` (run it again), `--result JSON` (supply its result) or `--fail`"
                ),
            }
        }
        (Some(stop), _) => return Err(stop),
        (None, Ok(Ok(output))) => Outcome::Completed { output },
        (None, Ok(Err(error))) => Outcome::Failed { error },
        (None, Err(trap)) => Outcome::Failed {
            error: match state.limiter.refused.take() {
                Some(refused) => refused,
                None => describe_trap(&trap, &state.grants.limits),
            },
        },
    })
}

/// A guest trap in words, naming the limit when one was hit.
fn describe_trap(trap: &wasmtime::Error, limits: &crate::config::Limits) -> String {
    match trap.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => format!(
            "the agent used up its fuel: it executed more than {} guest instructions (a runaway loop?); {}",
            limits.fuel,
            limits.fix("fuel")
        ),
        Some(wasmtime::Trap::StackOverflow) => {
            "the agent overflowed its stack (unbounded recursion?)".to_string()
        }
        _ => format!("the agent trapped: {trap:#}"),
    }
}
