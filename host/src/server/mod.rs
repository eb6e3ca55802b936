//! `relive serve`: many runs in one process, an HTTP API, live events and
//! a web UI.
//!
//! The service owns one [`Runtime`] (one engine, one linker, compiled
//! components shared by every run) and one journal. A scheduler claims
//! runs that are ready — new runs, runs orphaned by a crash, due timers,
//! answered approvals and delivered signals — with a lease (see
//! [`crate::control::leases`]), and drives each on its own task, at most
//! `max_runs` at a time. Everything a run needs to go on is in the
//! journal, so the service keeps no state of its own: a restarted service
//! finds the same runs ready and carries on.

mod api;
mod cancel;
mod cluster;
mod events;
mod lifecycle;
pub mod mcp;

pub use api::OPENAPI;
use lifecycle::{prune_every_hour, shutdown_signal, shutdown_signals};

use crate::config::Config;
use crate::engine::TimerPolicy;
use crate::journal::{Fence, Journal, JournalError, NewRun, RunRecord, now_ms};
use crate::runtime::{Outcome, Runtime};
use anyhow::{Context as _, anyhow, bail};
use events::Hub;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// How `relive serve` is set up.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Bearer token every API request must carry; required off loopback.
    pub token: Option<String>,
    /// Most runs executing at once.
    pub max_runs: usize,
    /// How long a shutdown waits for runs to reach their next host call.
    pub grace: Duration,
    /// Finished runs older than this are pruned every hour.
    pub retain: Option<Duration>,
}

/// A component the service knows, by digest.
#[derive(Clone, Debug)]
pub(crate) struct ComponentInfo {
    pub size: usize,
    /// Where it came from: a path, "upload", or "journal".
    pub source: String,
}

/// The service's shared state.
pub(crate) struct Service {
    pub runtime: Runtime,
    pub journal: Arc<dyn Journal>,
    pub config: Config,
    pub hub: Hub,
    pub options: ServeOptions,
    pub components: Mutex<BTreeMap<String, ComponentInfo>>,
    /// The digest of each agent's configured component.
    agent_components: Mutex<HashMap<String, String>>,
    /// Runs executing in this process, by id, with the fence of their claim.
    active: Mutex<HashMap<String, (tokio::task::AbortHandle, Fence)>>,
    slots: Arc<Semaphore>,
    /// Wakes the scheduler (a run was created or answered, or a slot freed).
    pub wake: Arc<Notify>,
    pub stopping: AtomicBool,
    /// Told when the service stops, so that event streams end.
    pub stopped: tokio::sync::watch::Sender<bool>,
}

/// How often the scheduler looks for ready runs when nothing wakes it:
/// answers given by another process (`relive approve`) are seen this late.
const POLL: Duration = Duration::from_millis(500);
/// The same with a journal that announces other processes' commits
/// (PostgreSQL's NOTIFY wakes the scheduler): a safety net only.
const POLL_WITH_EVENTS: Duration = Duration::from_secs(5);
/// How long a run that the host could not execute (a missing component, a
/// configuration error) waits before it is tried again.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(30);

/// Runs the service until SIGTERM or SIGINT.
pub async fn serve(
    journal: Arc<dyn Journal>,
    config: Config,
    options: ServeOptions,
) -> anyhow::Result<()> {
    if !options.listen.ip().is_loopback() && options.token.is_none() {
        bail!(
            "refusing to listen on {} without a token: anyone who can reach it could start agents and answer approvals. Set RELIVE_TOKEN (or --token-file), or listen on 127.0.0.1",
            options.listen
        );
    }
    if options.max_runs == 0 {
        bail!("--max-runs must be at least 1");
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let local = listener.local_addr()?;
    let service = Service::new(journal, config, options)?;
    service.register_configured().await;
    let signals = shutdown_signals()?;
    let recovered = service.break_dead_leases()?;
    eprintln!(
        "relive: serving on http://{local} (web UI at http://{local}/, API at http://{local}/v1, OpenAPI at http://{local}/openapi.json, MCP at http://{local}/mcp); up to {} runs at once{}",
        service.options.max_runs,
        if recovered > 0 {
            format!("; recovering {recovered} runs of a stopped relive")
        } else {
            String::new()
        }
    );
    let background = service.clone().start_background();
    let app = api::router(service.clone()).merge(mcp::router(service.clone()));
    let mut stopped = service.stopped.subscribe();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|s| *s).await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown_signal(signals).await;
    service.stop(background).await;
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => eprintln!("relive: warning: the HTTP server stopped with: {e}"),
        Err(_) => eprintln!("relive: warning: open connections did not close within 5 s"),
        _ => {}
    }
    eprintln!("relive: stopped");
    Ok(())
}

/// The service's tasks besides its HTTP server.
struct Background {
    scheduler: tokio::task::JoinHandle<()>,
    /// Follows other processes' commits (see [`cluster::watch`]).
    watcher: tokio::task::JoinHandle<()>,
    pruner: Option<tokio::task::JoinHandle<()>>,
}

/// Whether `error` says another process took the run's lease over.
fn lease_lost(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<JournalError>(),
            Some(JournalError::LeaseLost { .. })
        ) || matches!(
            cause.downcast_ref::<crate::engine::Stop>(),
            Some(crate::engine::Stop::Journal(JournalError::LeaseLost { .. }))
        )
    })
}

impl Service {
    /// The service's state: one runtime, whose providers and tools are
    /// built once per agent (the configuration is fixed for the service's
    /// life), and whose runs wake the scheduler when they start a child.
    fn new(
        journal: Arc<dyn Journal>,
        config: Config,
        options: ServeOptions,
    ) -> anyhow::Result<Arc<Service>> {
        let wake = Arc::new(Notify::new());
        let notify = wake.clone();
        let runtime = Runtime::new(journal.clone())?
            .keep_grants()
            .on_child(Arc::new(move || notify.notify_one()));
        Ok(Arc::new(Service {
            runtime,
            journal,
            slots: Arc::new(Semaphore::new(options.max_runs)),
            config,
            hub: Hub::default(),
            options,
            components: Default::default(),
            agent_components: Default::default(),
            active: Default::default(),
            wake,
            stopping: AtomicBool::new(false),
            stopped: tokio::sync::watch::channel(false).0,
        }))
    }

    /// Starts the scheduler, the watcher of other processes' commits and,
    /// with `--retain-days`, the pruner.
    fn start_background(self: Arc<Self>) -> Background {
        let pruner = self
            .options
            .retain
            .map(|age| tokio::spawn(prune_every_hour(self.journal.clone(), age)));
        Background {
            watcher: tokio::spawn(cluster::watch(self.clone())),
            scheduler: tokio::spawn(self.clone().schedule()),
            pruner,
        }
    }

    /// Stops the service: its runs (see [`Service::shutdown`]), its
    /// background tasks, then its MCP servers (no call is left in flight).
    async fn stop(&self, background: Background) {
        self.shutdown().await;
        background.scheduler.abort();
        background.watcher.abort();
        if let Some(pruner) = background.pruner {
            pruner.abort();
        }
        self.runtime.close().await;
    }

    /// Compiles the components named in relive.toml, so the first run of
    /// each agent starts at once.
    async fn register_configured(&self) {
        for (agent, cfg) in &self.config.agents {
            let Some(path) = &cfg.component else { continue };
            let path = self.config.base_dir.join(path);
            match std::fs::read(&path) {
                Ok(bytes) => match self.register(&bytes, &path.display().to_string()).await {
                    Ok(digest) => {
                        self.agent_components
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(agent.clone(), digest);
                    }
                    Err(e) => eprintln!(
                        "relive: warning: agent `{agent}`: component {}: {e:#}",
                        path.display()
                    ),
                },
                Err(e) => eprintln!(
                    "relive: warning: agent `{agent}`: cannot read component {}: {e}; runs of `{agent}` need a component given by digest",
                    path.display()
                ),
            }
        }
    }

    /// Checks, compiles and stores a component; returns its digest.
    pub async fn register(&self, bytes: &[u8], source: &str) -> anyhow::Result<String> {
        let digest = crate::journal::component_digest(bytes);
        let max =
            crate::config::Limits::resolve(&self.config.limits, &Default::default(), "(any agent)")
                .max_component_bytes;
        self.runtime
            .prepared(&digest, source, bytes, max)
            .map_err(|e| anyhow!(e))?;
        self.journal
            .put_component(&digest, bytes)
            .wait()
            .await
            .context("cannot store the component in the journal")?;
        self.components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.clone())
            .or_insert(ComponentInfo {
                size: bytes.len(),
                source: source.to_string(),
            });
        Ok(digest)
    }

    /// The digest of the component configured for `agent`.
    pub fn configured_component(&self, agent: &str) -> Option<String> {
        self.agent_components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(agent)
            .cloned()
    }

    /// Creates a run; the scheduler starts it at once.
    pub async fn create_run(
        &self,
        agent: &str,
        digest: &str,
        input: String,
    ) -> Result<RunRecord, JournalError> {
        let run = NewRun {
            id: crate::journal::new_run_id(),
            agent: agent.to_string(),
            component_digest: digest.to_string(),
            input,
            config_path: self
                .config
                .source
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .map(|p| p.display().to_string()),
            policy: self
                .runtime
                .grants(&self.config, agent, None)
                .await
                .ok()
                .map(|g| g.policy.to_value()),
            parent: None,
            lease: None,
        };
        let id = run.id.clone();
        self.journal.create_run(run).wait().await?;
        self.wake.notify_one();
        let journal = self.journal.clone();
        tokio::task::spawn_blocking(move || journal.find_run(&id))
            .await
            .map_err(|e| JournalError::Other(format!("reading the new run failed: {e}")))?
    }

    /// Frees the leases of dead relive processes on this machine, so that
    /// their runs are recovered now rather than when the leases expire.
    fn break_dead_leases(&self) -> Result<usize, JournalError> {
        crate::control::leases::break_dead(self.journal.as_ref())
    }

    pub fn is_active(&self, run_id: &str) -> bool {
        self.lock_active().contains_key(run_id)
    }

    pub fn active_count(&self) -> usize {
        self.lock_active().len()
    }

    fn lock_active(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (tokio::task::AbortHandle, Fence)>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims ready runs while slots are free; sleeps until the next run is
    /// due, something wakes it, or [`POLL`] passes.
    async fn schedule(self: Arc<Self>) {
        let poll = if self.journal.events().is_some() {
            POLL_WITH_EVENTS
        } else {
            POLL
        };
        let mut last_sweep = std::time::Instant::now();
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let sweep = last_sweep.elapsed() > crate::control::leases::renew_every();
            if sweep {
                last_sweep = std::time::Instant::now();
            }
            // The journal's queries block: off the async threads.
            let service = self.clone();
            let found = tokio::task::spawn_blocking(move || {
                if sweep && let Err(e) = service.break_dead_leases() {
                    eprintln!("relive: warning: cannot check run leases: {e}");
                }
                service.claim_ready()
            })
            .await;
            let next = match found {
                Ok(Ok((claimed, next))) => {
                    for (fence, permit) in claimed {
                        self.spawn_drive(fence, permit);
                    }
                    next
                }
                Ok(Err(e)) => {
                    eprintln!("relive: warning: cannot look for ready runs: {e}");
                    Some(POLL)
                }
                Err(e) => {
                    eprintln!("relive: warning: the scheduler's journal query failed: {e}");
                    Some(POLL)
                }
            };
            let sleep = next.unwrap_or(poll).min(poll);
            let _ = tokio::time::timeout(sleep, self.wake.notified()).await;
        }
    }

    /// Claims what is ready while slots are free (blocking journal calls);
    /// returns the claims and how long until the next run is due (zero when
    /// free slots may find more work at once).
    #[allow(clippy::type_complexity)]
    fn claim_ready(
        &self,
    ) -> Result<
        (
            Vec<(Fence, tokio::sync::OwnedSemaphorePermit)>,
            Option<Duration>,
        ),
        JournalError,
    > {
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok((Vec::new(), None));
        }
        // Runs executing here are left out: their leases are ours.
        let skip: Vec<String> = self.lock_active().keys().cloned().collect();
        let fences = self.journal.claim_ready(
            crate::control::leases::me(),
            crate::control::leases::ttl(),
            free,
            &skip,
        )?;
        let mut claimed = Vec::new();
        for fence in fences {
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => claimed.push((fence, permit)),
                // Not expected (claims are made only here): give it back.
                Err(_) => self.journal.release(&fence)?,
            }
        }
        if !claimed.is_empty() && self.slots.available_permits() > claimed.len() {
            return Ok((claimed, Some(Duration::ZERO)));
        }
        Ok((claimed, self.journal.next_ready_in()?))
    }

    fn spawn_drive(self: &Arc<Self>, fence: Fence, permit: tokio::sync::OwnedSemaphorePermit) {
        let service = self.clone();
        let id = fence.run_id.clone();
        let claim = fence.clone();
        // Registered before it runs: the task removes itself at its end.
        let mut active = self.lock_active();
        let task = tokio::spawn(async move {
            service.drive(&claim).await;
            service.lock_active().remove(&claim.run_id);
            drop(permit);
            service.hub.prune(&claim.run_id);
            service.wake.notify_one();
        });
        active.insert(id, (task.abort_handle(), fence));
    }

    /// Executes one claimed run until it ends, suspends or is interrupted.
    async fn drive(&self, fence: &Fence) {
        let run_id = fence.run_id.as_str();
        let journal = self.journal.clone();
        let id = run_id.to_string();
        let record = match tokio::task::spawn_blocking(move || journal.find_run(&id)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                eprintln!("relive: run {run_id}: {e}");
                return;
            }
            Err(e) => {
                eprintln!("relive: run {run_id}: reading it failed: {e}");
                return;
            }
        };
        self.publish_status(run_id);
        let observer = self.hub.observer(run_id);
        let result = self
            .runtime
            .resume_claimed(
                &record,
                fence,
                &self.config,
                Some(observer),
                TimerPolicy::Suspend,
            )
            .await;
        match result {
            Ok(report) => {
                if report.outcome == Outcome::Interrupted {
                    return;
                }
                self.publish_status(run_id);
            }
            Err(e) if lease_lost(&e) => {
                // Another process owns the run now: it must not be touched.
                eprintln!("relive: run {run_id} stopped here: {e:#}");
            }
            Err(e) => {
                // The host could not do its part: leave the run as it is
                // and try again later, saying why.
                eprintln!(
                    "relive: run {run_id} could not be executed: {e:#}; it is retried in {} s",
                    RETRY_AFTER_ERROR.as_secs()
                );
                let _ = self
                    .journal
                    .set_ready(fence, Some(now_ms() + RETRY_AFTER_ERROR.as_millis() as i64))
                    .wait()
                    .await;
                self.publish_status(run_id);
            }
        }
    }

    /// Tells a run's event subscribers that its status may have changed.
    pub fn publish_status(&self, run_id: &str) {
        self.hub.publish(run_id, events::Live::Status);
    }

    /// Stops claiming runs, lets running ones reach their next host call,
    /// and after the grace period stops whatever is left. Every run that
    /// did not end stays `running` with its lease given up, so the next
    /// start of a service resumes it at once.
    async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.runtime.interrupt();
        let active = self.active_count();
        if active > 0 {
            eprintln!(
                "relive: waiting up to {} s for {active} runs to reach their next host call",
                self.options.grace.as_secs()
            );
        }
        let deadline = tokio::time::Instant::now() + self.options.grace;
        while self.active_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left: Vec<(String, (tokio::task::AbortHandle, Fence))> =
            self.lock_active().drain().collect();
        for (_, (task, fence)) in &left {
            task.abort();
            let _ = self.journal.release(fence);
        }
        if !left.is_empty() {
            eprintln!(
                "relive: {} runs were stopped in a host call; they are resumed on the next start",
                left.len()
            );
        }
        let _ = self.stopped.send(true);
    }
}
