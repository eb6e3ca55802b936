//! The runtime: runs agents. It starts new runs, resumes interrupted ones by
//! replay, replays recorded journals without touching the outside world, and
//! checks upgrades. It owns the wasmtime engine and linker (built once per
//! [`Runtime`]), the compiled components (`components.rs`), the sandbox
//! (`sandbox.rs`) and how grants are built from the configuration
//! (`grants.rs`); each run gets its own store with the capabilities its
//! agent was granted.

use crate::config::Config;
use crate::engine::{Divergence, Mode, Observer};
use crate::imports::bindings::{Agent, AgentPre};
use crate::imports::{Grants, Host, HostState, RunPolicy};
use crate::journal::{Journal, RunStatus};
use anyhow::Context as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::bindings::random::random;

mod children;
mod components;
mod grants;
mod replay;
mod run;
pub mod sandbox;

pub use grants::{build_grants, grant_mcp_tools};

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
    Suspended(crate::journal::Waiting),
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
    /// The configuration child runs are started with (none in a replay).
    config: Option<Arc<Config>>,
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
    /// Called when a run starts a child run, so a scheduler starts it at once.
    child_wake: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The MCP servers of this process, shared by every run.
    mcp: Arc<crate::tools::mcp::McpPool>,
    /// Renews the leases of the runs this process executes.
    _leases: crate::control::leases::Keeper,
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
        crate::imports::poll::add_to_linker(&mut linker)?;
        Agent::add_to_linker::<HostState, Host>(&mut linker, |s| s)?;
        // Others can tell whether this process lives (its leases).
        crate::control::leases::register(journal.as_ref())
            .context("cannot register this process in the journal")?;
        Ok(Runtime {
            engine,
            linker,
            _leases: crate::control::leases::Keeper::start(journal.clone()),
            journal,
            components: Default::default(),
            child_wake: None,
            mcp: Default::default(),
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

    /// The grants of `agent` under `config`. The tools of MCP servers are
    /// those each server lists now for a new run (`recorded` is `None`),
    /// or those the recorded policy of a resumed run names, without
    /// contacting the servers.
    pub async fn grants(
        &self,
        config: &Config,
        agent: &str,
        recorded: Option<&RunPolicy>,
    ) -> anyhow::Result<Grants> {
        let mut grants = self.base_grants(config, agent)?;
        grant_mcp_tools(&mut grants, config, &self.mcp, recorded).await?;
        Ok(grants)
    }

    /// The grants of `agent` but for MCP servers' tools: built once when
    /// the runtime keeps grants.
    fn base_grants(&self, config: &Config, agent: &str) -> anyhow::Result<Grants> {
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

    /// The MCP servers this runtime's runs use.
    pub fn mcp(&self) -> &Arc<crate::tools::mcp::McpPool> {
        &self.mcp
    }

    /// Ends what the runtime started outside runs: its MCP servers' connections
    /// (stdio servers end). For the end of a command or a service.
    pub async fn close(&self) {
        self.mcp.close().await;
    }

    /// Calls `wake` whenever a run starts a child run (the service's
    /// scheduler starts it at once instead of at its next poll).
    pub fn on_child(mut self, wake: Arc<dyn Fn() + Send + Sync>) -> Runtime {
        self.child_wake = Some(wake);
        self
    }

    /// Stops every run of this runtime before its next host call: calls
    /// under way finish and are recorded, then the runs end with
    /// [`Outcome::Interrupted`], still `running`, to be resumed.
    pub fn interrupt(&self) {
        self.interrupt.store(true, Ordering::Relaxed);
    }

    /// The compiled, linked component with `digest` (`bytes`), compiled
    /// once per runtime.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }
}
