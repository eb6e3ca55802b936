//! Runs agents: starts new runs, resumes interrupted ones by replay, and
//! replays recorded journals without touching the outside world.
//!
//! The engine and linker are built once per [`Runtime`]; each run gets its
//! own store with the capabilities its agent was granted.

use crate::bindings::{Agent, AgentPre};
use crate::config::{Config, ModelConfig};
use crate::host_calls::{Grants, Host, HostState};
use crate::journal::export::JournalFile;
use crate::journal::{
    Durability, Entry, EntryState, Fence, Journal, NewRun, RunRecord, RunStatus, StatusChange,
    component_digest, new_run_id,
};
use crate::llm::Provider;
use crate::policy::{RunPolicy, ToolPolicy};
use crate::replay::{Divergence, Mode, Observer, Recorder, Stop, TimerPolicy};
use crate::sandbox::{self, ComponentError};
use crate::tools::Tool;
use anyhow::{Context as _, anyhow, bail};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::bindings::random::random;

/// How a run ended (this time).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed {
        output: String,
    },
    Failed {
        error: String,
    },
    Diverged(Divergence),
    /// A non-idempotent call was interrupted; `relive resolve` decides.
    Uncertain {
        seq: u64,
        message: String,
    },
    /// Waiting for an approval, a time or a signal.
    Suspended(crate::waiting::Waiting),
    /// Stopped by a host shutdown before its next call; still running, to
    /// be resumed (by this host when it restarts, or another).
    Interrupted,
}

impl Outcome {
    pub fn status(&self) -> RunStatus {
        match self {
            Outcome::Completed { .. } => RunStatus::Completed,
            Outcome::Failed { .. } => RunStatus::Failed,
            Outcome::Diverged(_) => RunStatus::Diverged,
            Outcome::Uncertain { .. } => RunStatus::Uncertain,
            Outcome::Suspended(_) => RunStatus::Suspended,
            Outcome::Interrupted => RunStatus::Running,
        }
    }

    /// What the run's `output` and `error` columns get.
    pub fn output_and_error(&self) -> (Option<String>, Option<String>) {
        match self {
            Outcome::Completed { output } => (Some(output.clone()), None),
            Outcome::Failed { error } => (None, Some(error.clone())),
            Outcome::Diverged(d) => (None, Some(d.to_string())),
            Outcome::Uncertain { message, .. } => (None, Some(message.clone())),
            Outcome::Suspended(_) | Outcome::Interrupted => (None, None),
        }
    }
}

/// What `start`, `resume` and `replay` report.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub outcome: Outcome,
    /// Entries answered from the journal.
    pub replayed: usize,
    /// Wall time of the execution.
    pub elapsed: Duration,
}

/// What a new run is made of.
#[derive(Debug, Clone)]
pub struct StartRequest<'a> {
    /// The agent's name: its grants are `[agents.NAME]` in relive.toml.
    pub agent: &'a str,
    /// Where the component came from, for messages.
    pub path: &'a str,
    /// The component's bytes.
    pub bytes: &'a [u8],
    pub input: String,
}

/// How one execution of a run's component is set up.
struct Execution {
    grants: Grants,
    observer: Option<Observer>,
    mode: Mode,
}

/// The engine, the linker and the journal.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    journal: Arc<dyn Journal>,
    /// Components compiled and linked, by digest: a second run of a
    /// component starts without compiling or linking again.
    components: std::sync::Mutex<HashMap<String, AgentPre<HostState>>>,
    /// Set to stop every run of this runtime before its next host call.
    interrupt: Arc<AtomicBool>,
    /// Grants built once per agent, when the configuration is fixed for
    /// the runtime's life (see [`Runtime::keep_grants`]).
    grants: Option<std::sync::Mutex<HashMap<String, Grants>>>,
    /// Renews the leases of the runs this process executes.
    _leases: crate::lease::Keeper,
}

impl Runtime {
    pub fn new(journal: Arc<dyn Journal>) -> anyhow::Result<Runtime> {
        let engine = sandbox::engine()?;
        let mut linker = Linker::<HostState>::new(&engine);
        sandbox::link_wasi(&mut linker)?;
        // Clocks and randomness are answered by the journal.
        wall_clock::add_to_linker::<HostState, Host>(&mut linker, |s| s)?;
        monotonic_clock::add_to_linker::<HostState, Host>(&mut linker, |s| s)?;
        random::add_to_linker::<HostState, Host>(&mut linker, |s| s)?;
        crate::host_poll::add_to_linker(&mut linker)?;
        Agent::add_to_linker::<HostState, Host>(&mut linker, |s| s)?;
        // Others can tell whether this process lives (its leases).
        crate::lease::register(journal.as_ref())
            .context("cannot register this process in the journal")?;
        Ok(Runtime {
            engine,
            linker,
            _leases: crate::lease::Keeper::start(journal.clone()),
            journal,
            components: Default::default(),
            interrupt: Default::default(),
            grants: None,
        })
    }

    /// Builds each agent's grants (its providers with their HTTP clients
    /// and connection pools, its tools) once, and shares them between its
    /// runs. For a runtime whose every run uses one configuration, as
    /// `relive serve` does; providers and tools keep no per-run state.
    pub fn keep_grants(mut self) -> Runtime {
        self.grants = Some(Default::default());
        self
    }

    /// The grants of `agent` under `config`.
    pub fn grants(&self, config: &Config, agent: &str) -> anyhow::Result<Grants> {
        let Some(cache) = &self.grants else {
            return build_grants(config, agent);
        };
        if let Some(grants) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(agent) {
            return Ok(grants.clone());
        }
        let grants = build_grants(config, agent)?;
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(agent.to_string(), grants.clone());
        Ok(grants)
    }

    /// Stops every run of this runtime before its next host call: calls
    /// under way finish and are recorded, then the runs end with
    /// [`Outcome::Interrupted`], still `running`, to be resumed.
    pub fn interrupt(&self) {
        self.interrupt.store(true, Ordering::Relaxed);
    }

    /// The compiled, linked component with `digest` (`bytes`), compiled
    /// once per runtime.
    pub fn prepared(
        &self,
        digest: &str,
        path: &str,
        bytes: &[u8],
        max_bytes: usize,
    ) -> Result<AgentPre<HostState>, ComponentError> {
        if let Some(pre) = self.lock_components().get(digest) {
            return Ok(pre.clone());
        }
        let pre = self.load(path, bytes, max_bytes)?;
        self.lock_components()
            .insert(digest.to_string(), pre.clone());
        Ok(pre)
    }

    /// Whether the component with `digest` is compiled and linked already.
    pub fn is_prepared(&self, digest: &str) -> bool {
        self.lock_components().contains_key(digest)
    }

    fn lock_components(&self) -> std::sync::MutexGuard<'_, HashMap<String, AgentPre<HostState>>> {
        self.components.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// Compiles `bytes` and checks that they implement the agent world with
    /// imports this host provides.
    pub fn load(
        &self,
        path: &str,
        bytes: &[u8],
        max_bytes: usize,
    ) -> Result<AgentPre<HostState>, ComponentError> {
        let component: Component = sandbox::load_component(&self.engine, path, bytes, max_bytes)?;
        sandbox::check_imports(&self.engine, path, &component)?;
        let pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| ComponentError::WrongWorld {
                    path: path.to_string(),
                    message: format!("{e:#}"),
                })?;
        sandbox::check_run_export(&self.engine, path, &component)?;
        AgentPre::new(pre).map_err(|e| ComponentError::WrongWorld {
            path: path.to_string(),
            message: format!("{e:#}"),
        })
    }

    /// Starts a new run and runs it to its end; `on_created` is called
    /// with the run id once the run is durable.
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
        let grants = self.grants(config, agent)?;
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
            lease: Some((crate::lease::me().to_string(), crate::lease::ttl())),
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
        let fence = tokio::task::spawn_blocking(move || crate::lease::acquire(&*journal, &id))
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
        let grants = self.grants(config, &run.agent)?;
        // What shapes the journal is the run's own, not today's config.
        let grants = match RunPolicy::from_record(run.policy.as_ref()) {
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
    pub async fn replay(
        &self,
        path: &str,
        bytes: &[u8],
        file: &JournalFile,
    ) -> anyhow::Result<RunReport> {
        let pre = self.load(
            path,
            bytes,
            crate::limits::Limits::defaults(&file.run.agent).max_component_bytes,
        )?;
        let mut report = self
            .run_store(
                &file.run.id,
                None,
                &file.run.input,
                &pre,
                file.entries.clone(),
                Execution {
                    grants: replay_grants(&file.run),
                    observer: None,
                    mode: Mode::ReplayOnly,
                },
            )
            .await?;
        if let Outcome::Completed { output } = &report.outcome {
            let recorded = file.run.output.as_deref().unwrap_or("");
            if file.run.status == RunStatus::Completed && recorded != output {
                report.outcome = Outcome::Failed {
                    error: format!(
                        "every call matched, but the output differs:\n  recorded: {recorded}\n  replayed: {output}"
                    ),
                };
            } else if file.run.status == RunStatus::Failed {
                // A failed run passes only if it fails the same way.
                report.outcome = Outcome::Failed {
                    error: format!(
                        "the recorded run failed, but the replay completed:\n  recorded error: {}\n  replayed output: {output}",
                        file.run.error.as_deref().unwrap_or("")
                    ),
                };
            }
        }
        Ok(report)
    }

    /// Checks that `bytes` replays the journal of `run` cleanly, as an
    /// upgrade requires: every recorded call matches, up to the end of the
    /// recorded answers (or the wait the run is suspended on). Returns the
    /// reason when it does not.
    pub async fn check_upgrade(
        &self,
        path: &str,
        bytes: &[u8],
        run: &RunRecord,
    ) -> anyhow::Result<Result<(), String>> {
        let pre = self.load(
            path,
            bytes,
            crate::limits::Limits::defaults(&run.agent).max_component_bytes,
        )?;
        let entries = self.journal.entries(&run.id)?;
        let exec = Execution {
            grants: replay_grants(run),
            observer: None,
            mode: Mode::ReplayOnly,
        };
        let report = self
            .run_store(&run.id, None, &run.input, &pre, entries, exec)
            .await?;
        Ok(match report.outcome {
            Outcome::Diverged(d) if d.expected.is_none() => Ok(()),
            Outcome::Suspended(_) | Outcome::Uncertain { .. } | Outcome::Completed { .. } => Ok(()),
            Outcome::Diverged(d) => Err(d.to_string()),
            Outcome::Failed { error } => {
                Err(format!("the new component failed while replaying: {error}"))
            }
            Outcome::Interrupted => Err("the check was interrupted".to_string()),
        })
    }

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

    async fn run_store(
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
        let wasi = sandbox::wasi_ctx(run_id, recorder.replaying_flag());
        let fuel = grants.limits.fuel;
        let state = HostState::new(wasi, recorder, grants);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(fuel)?;
        store.fuel_async_yield_interval(Some(crate::limits::FUEL_YIELD_INTERVAL))?;
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
        let outcome = match (stop, result) {
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
            (Some(stop), _) => {
                // The host could not do its part (journal I/O, damaged
                // entries): the run is left as it was, to be resumed.
                return Err(anyhow!(stop).context(format!("run {run_id} stopped")));
            }
            (None, Ok(Ok(output))) => Outcome::Completed { output },
            (None, Ok(Err(error))) => Outcome::Failed { error },
            (None, Err(trap)) => Outcome::Failed {
                error: match store.data_mut().limiter.refused.take() {
                    Some(refused) => refused,
                    None => describe_trap(&trap, &store.data().grants.limits),
                },
            },
        };
        Ok(RunReport {
            run_id: run_id.to_string(),
            outcome,
            replayed,
            elapsed: begun.elapsed(),
        })
    }
}

/// A guest trap in words, naming the limit when one was hit.
fn describe_trap(trap: &wasmtime::Error, limits: &crate::limits::Limits) -> String {
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

/// Builds the providers and tools `agent` was granted in `config`.
pub fn build_grants(config: &Config, agent: &str) -> anyhow::Result<Grants> {
    let grants = config.agent(agent);
    let mut models: std::collections::BTreeMap<String, Arc<dyn Provider>> = Default::default();
    let mut prices = std::collections::BTreeMap::new();
    for name in &grants.models {
        let model: &ModelConfig = &config.models[name];
        if let Some(p) = crate::llm::Prices::of(model) {
            prices.insert(name.clone(), p);
        }
        let provider: Arc<dyn Provider> = crate::llm::from_config(name, model, config)
            .with_context(|| format!("model `{name}`"))?;
        models.insert(name.clone(), provider);
    }
    let mut tools: std::collections::BTreeMap<String, Arc<dyn Tool>> = Default::default();
    for name in &grants.tools {
        tools.insert(
            name.clone(),
            crate::tools::from_config(name, &config.tools[name], &config.base_dir),
        );
    }
    let limits = config.limits(agent);
    let policy = RunPolicy {
        version: crate::policy::POLICY_VERSION,
        tools: grants
            .tools
            .iter()
            .map(|name| {
                let tool = ToolPolicy {
                    idempotent: tools[name].idempotent(),
                    approval: config.tools[name].approval == crate::config::ToolApproval::Required,
                };
                (name.clone(), tool)
            })
            .collect(),
        limits: limits.to_config(),
        budget_tokens: grants.budget_tokens,
        budget_cost: grants.budget_cost,
    };
    Ok(Grants {
        agent: agent.to_string(),
        config_source: config.describe_source(),
        default_model: grants.models.first().cloned(),
        prices,
        limits,
        models,
        tools,
        policy,
    })
}

/// What a replay-only execution of `run` gets: nothing live, the run's own
/// policy (its approvals and limits) when it recorded one.
fn replay_grants(run: &RunRecord) -> Grants {
    let grants = Grants::none(&run.agent);
    match RunPolicy::from_record(run.policy.as_ref()) {
        Some(policy) => grants.with_policy(policy),
        None => grants,
    }
}
