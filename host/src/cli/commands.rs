//! One function per subcommand.

use super::answers;
use super::format;
use super::versions::{import, replay, upgrade};
use super::{
    Cli, Command, EXIT_DIVERGED, EXIT_FAILED, EXIT_UNCERTAIN, ImportArgs, PruneArgs, ReplayArgs,
    ResumeArgs, RunArgs, ServeArgs, UpgradeArgs,
};
use crate::config::{Config, DEFAULT_DB_FILE};
use crate::journal::{Journal, Location, OpenOptions, RunStatus, SyncPolicy};
use crate::runtime::{Outcome, RunReport, Runtime, StartRequest};
use anyhow::{Context, anyhow, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(super) fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::New(ref args) => super::new::run(args),
        Command::Build(ref args) => super::build::run(args),
        Command::Run(ref args) => run(&cli, args),
        Command::Resume(ref args) => resume(&cli, args),
        Command::Runs(ref args) => super::inspect::runs(&cli, args),
        Command::Show(ref args) => super::inspect::show(&cli, args),
        Command::Export(ref args) => super::inspect::export_run(&cli, args),
        Command::Replay(ref args) => replay_file(&cli, args),
        Command::Import(ref args) => import_file(&cli, args),
        Command::Upgrade(ref args) => upgrade_runs(&cli, args),
        Command::Approve(ref args) => answers::approve(&cli, args),
        Command::Reject(ref args) => answers::reject(&cli, args),
        Command::Signal(ref args) => answers::signal(&cli, args),
        Command::Resolve(ref args) => answers::resolve(&cli, args),
        Command::Cancel(ref args) => answers::cancel(&cli, args),
        Command::Prune(ref args) => prune(&cli, args),
        Command::Serve(ref args) => serve(&cli, args),
        Command::Mcp(ref args) => super::mcp::run(&cli, args),
        Command::Migrate(ref args) => super::migrate::run(args),
    }
}

fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<u8> {
    let RunArgs {
        ref agent,
        ref input,
        ref input_file,
        ref agent_name,
        json,
        quiet,
        verbose,
        stream,
    } = *args;
    let config = Config::load(cli.config.as_deref())?;
    let input = read_input(input, input_file.as_deref())?;
    let (path, name) = locate_agent(agent, agent_name.as_deref(), &config)?;
    let bytes = std::fs::read(&path).map_err(|e| {
        anyhow!(
            "cannot read component {}: {e}; build it with `cargo build --target wasm32-wasip2 --release`",
            path.display()
        )
    })?;
    let journal = open_journal(cli.db.as_deref(), &config, true)?;
    let runtime = Runtime::new(journal.clone())?;
    let observer = (!quiet).then(|| format::progress_observer(verbose, stream));
    let shown = path.display().to_string();
    let request = StartRequest {
        agent: &name,
        path: &shown,
        bytes: &bytes,
        input,
    };
    let started = std::sync::Mutex::new(None::<String>);
    let timers = crate::engine::TimerPolicy::Suspend;
    let report = until_interrupted(async {
        let driven = async {
            let report = runtime
                .start(request, &config, observer.clone(), |id| {
                    *started.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.to_string());
                    if !quiet {
                        eprintln!("relive: run {id} started (agent {name}, {shown})");
                    }
                })
                .await?;
            // The run's child runs execute here too, and the run goes on
            // when they end.
            runtime.drive_tree(report, &config, observer, timers).await
        };
        let result = driven.await;
        runtime.close().await; // MCP servers end
        result
    })?;
    let started = started.into_inner().unwrap_or_else(|p| p.into_inner());
    match report {
        Some(report) => finish(&report, json, quiet),
        None => interrupted(started.as_deref()),
    }
}

fn resume(cli: &Cli, args: &ResumeArgs) -> anyhow::Result<u8> {
    let ResumeArgs {
        ref run,
        now,
        json,
        quiet,
        verbose,
        stream,
    } = *args;
    let startup = Config::load(cli.config.as_deref())?;
    // Opened with the configured fsync policy, as `run` opens it.
    let journal = open_journal(cli.db.as_deref(), &startup, false)?;
    let record = journal.find_run(run)?;
    if record.status == RunStatus::Completed {
        eprintln!("relive: run {} already completed", record.id);
        return finish(&report_of(&record), json, true);
    }
    let config = config_for_run(cli.config.as_deref(), record.config_path.as_deref())?;
    let runtime = Runtime::new(journal.clone())?;
    let recorded = journal.entries(&record.id)?.len();
    if !quiet {
        eprintln!(
            "relive: resuming run {} (agent {}): replaying {recorded} recorded entries",
            record.id, record.agent
        );
    }
    let observer = (!quiet).then(|| format::progress_observer(verbose, stream));
    let entries = journal.entries(&record.id)?;
    if let Some(w) = crate::journal::Waiting::of_run(&entries)
        && w.kind == crate::journal::EntryKind::Timer
        && !now
        && !quiet
    {
        eprintln!(
            "relive: the run sleeps: {w}; waiting (Ctrl-C leaves it suspended; --now wakes it)"
        );
    }
    let timers = if now {
        crate::engine::TimerPolicy::WakeNow
    } else {
        crate::engine::TimerPolicy::Wait
    };
    let driven = async {
        let driven = async {
            let report = runtime
                .resume(&record, &config, observer.clone(), timers)
                .await?;
            runtime.drive_tree(report, &config, observer, timers).await
        };
        let result = driven.await;
        runtime.close().await; // MCP servers end
        result
    };
    match until_interrupted(driven)? {
        Some(report) => finish(&report, json, quiet),
        None => interrupted(Some(&record.id)),
    }
}

fn replay_file(_cli: &Cli, args: &ReplayArgs) -> anyhow::Result<u8> {
    let ReplayArgs {
        ref component,
        ref journal,
        json,
    } = *args;
    replay(component, journal, json)
}

fn import_file(cli: &Cli, args: &ImportArgs) -> anyhow::Result<u8> {
    let ImportArgs {
        ref file,
        ref component,
    } = *args;
    let config = Config::load(cli.config.as_deref())?;
    let journal = open_journal(cli.db.as_deref(), &config, true)?;
    import(&*journal, file, component.as_deref())
}

fn upgrade_runs(cli: &Cli, args: &UpgradeArgs) -> anyhow::Result<u8> {
    let UpgradeArgs {
        ref run,
        ref agent,
        ref to,
        json,
    } = *args;
    let config = Config::load(cli.config.as_deref())?;
    let journal = open_journal(cli.db.as_deref(), &config, false)?;
    upgrade(journal, run.as_deref(), agent.as_deref(), to, json)
}

fn prune(cli: &Cli, args: &PruneArgs) -> anyhow::Result<u8> {
    let PruneArgs {
        older_than,
        ref status,
        force,
        dry_run,
        vacuum,
        json,
    } = *args;
    let config = Config::load(cli.config.as_deref())?;
    let journal = open_journal(cli.db.as_deref(), &config, false)?;
    let request = crate::control::retention::prune_request(older_than, status, force, dry_run)
        .map_err(|e| anyhow!(e))?;
    super::maintenance::prune(&*journal, &request, vacuum, json)
}

fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<u8> {
    let ServeArgs {
        listen,
        max_runs,
        grace_secs,
        ref token_file,
        retain_days,
    } = *args;
    let config = Config::load(cli.config.as_deref())?;
    let token = match token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow!("cannot read --token-file {}: {e}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("RELIVE_TOKEN").ok(),
    }
    .filter(|t| !t.is_empty());
    let journal = open_journal(cli.db.as_deref(), &config, true)?;
    let options = crate::server::ServeOptions {
        listen,
        token,
        max_runs,
        grace: std::time::Duration::from_secs(grace_secs),
        retain: retain_days.map(|d| std::time::Duration::from_secs(d.saturating_mul(86_400))),
    };
    block_on(crate::server::serve(journal, config, options))?;
    Ok(0)
}

pub(super) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts")
        .block_on(future)
}

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

/// Runs `future` until it ends or Ctrl-C arrives (`None`). On Ctrl-C the
/// execution is dropped where it is: a tool call in flight is killed with
/// its whole process group, and the run stays `running`, to be resumed.
fn until_interrupted<F, T>(future: F) -> anyhow::Result<Option<T>>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    block_on(async {
        tokio::select! {
            result = future => result.map(Some),
            _ = tokio::signal::ctrl_c() => Ok(None),
        }
    })
}

fn interrupted(run: Option<&str>) -> anyhow::Result<u8> {
    match run {
        Some(id) => eprintln!(
            "relive: interrupted; run {id} stays running, where it stopped: continue it with `relive resume {id}`"
        ),
        None => eprintln!("relive: interrupted before the run was created"),
    }
    Ok(EXIT_INTERRUPTED)
}

fn read_input(input: &str, file: Option<&Path>) -> anyhow::Result<String> {
    match file {
        None => Ok(input.to_string()),
        Some(p) if p == Path::new("-") => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            Ok(text)
        }
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read input file {}", p.display())),
    }
}

/// A component path and the agent's name, from a path or a config name.
fn locate_agent(
    arg: &str,
    name: Option<&str>,
    config: &Config,
) -> anyhow::Result<(PathBuf, String)> {
    let as_path = Path::new(arg);
    if as_path.is_file() {
        let stem = as_path
            .file_stem()
            .map(|s| s.to_string_lossy().replace('-', "_"))
            .unwrap_or_else(|| "agent".into());
        return Ok((as_path.to_path_buf(), name.unwrap_or(&stem).to_string()));
    }
    if let Some(agent) = config.agents.get(arg) {
        let component = agent.component.as_ref().ok_or_else(|| {
            anyhow!(
                "agent `{arg}` in {} has no `component` key; add component = \"path/to/{arg}.wasm\" under [agents.{arg}]",
                config.describe_source()
            )
        })?;
        return Ok((config.resolve(component), name.unwrap_or(arg).to_string()));
    }
    if arg.ends_with(".wasm") || arg.contains('/') {
        bail!(
            "component file {arg} does not exist; build it with `cargo build --target wasm32-wasip2 --release`"
        );
    }
    bail!(
        "`{arg}` is neither a component file nor an agent in {}; pass the path of a .wasm file, or add [agents.{arg}] with a `component` key",
        config.describe_source()
    )
}

/// Where the journal is: `--db` (a path or a `postgres://` URL), else
/// relive.toml's `[journal] url` or `path`, else ./relive.db.
pub(super) fn db_location(flag: Option<&Path>, config: &Config) -> Location {
    match (flag, &config.journal.url, &config.journal.path) {
        (Some(p), _, _) => Location::from(p),
        (None, Some(url), _) => Location::Postgres(url.clone()),
        (None, None, Some(p)) => Location::Sqlite(config.resolve(p)),
        (None, None, None) => Location::Sqlite(PathBuf::from(DEFAULT_DB_FILE)),
    }
}

pub(super) fn open_journal(
    flag: Option<&Path>,
    config: &Config,
    create: bool,
) -> anyhow::Result<Arc<dyn Journal>> {
    let options = OpenOptions {
        create,
        sync: sync_policy(config),
    };
    Ok(crate::journal::open(db_location(flag, config), options)?)
}

/// The journal's sync policy as relive.toml's `[journal] fsync` sets it.
fn sync_policy(config: &Config) -> SyncPolicy {
    match config.journal.fsync {
        crate::config::FsyncPolicy::Critical => SyncPolicy::Critical,
        crate::config::FsyncPolicy::EveryEntry => SyncPolicy::EveryEntry,
    }
}

/// The configuration to resume a run with: `--config` if given, else the
/// file the run was started with, else the default lookup.
fn config_for_run(flag: Option<&Path>, recorded: Option<&str>) -> anyhow::Result<Config> {
    if flag.is_some() {
        return Ok(Config::load(flag)?);
    }
    if let Some(path) = recorded {
        let path = Path::new(path);
        if path.is_file() {
            return Ok(Config::from_file(path)?);
        }
        eprintln!(
            "relive: warning: the run was started with {}, which no longer exists; using the default configuration",
            path.display()
        );
    }
    Ok(Config::load(None)?)
}

fn report_of(run: &crate::journal::RunRecord) -> RunReport {
    RunReport {
        run_id: run.id.clone(),
        outcome: match run.status {
            RunStatus::Completed => Outcome::Completed {
                output: run.output.clone().unwrap_or_default(),
            },
            _ => Outcome::Failed {
                error: run.error.clone().unwrap_or_default(),
            },
        },
        replayed: 0,
        tolerated: Default::default(),
        elapsed: std::time::Duration::ZERO,
    }
}

/// Prints the end of a run and returns its exit code.
fn finish(report: &RunReport, json: bool, quiet: bool) -> anyhow::Result<u8> {
    let status = report.outcome.status();
    let (output, error) = report.outcome.output_and_error();
    let waiting = match &report.outcome {
        Outcome::Suspended(w) => Some(w),
        _ => None,
    };
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({
            "id": report.run_id,
            "status": status,
            "output": output,
            "error": error,
            "replayed": report.replayed,
            "waiting": waiting,
            "elapsed_ms": report.elapsed.as_millis() as u64,
        });
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        if !quiet {
            eprintln!(
                "relive: run {} {status} in {} ({} entries replayed)",
                report.run_id,
                format::duration(report.elapsed),
                report.replayed
            );
        }
        if let Some(output) = &output {
            writeln!(out, "{output}")?;
        }
        if let Some(error) = &error {
            eprintln!("relive: run {} {status}: {error}", report.run_id);
        }
        if let Some(w) = waiting {
            eprintln!(
                "relive: run {} is waiting for {w}; {}",
                report.run_id,
                w.how_to_continue(&report.run_id)
            );
        }
    }
    Ok(match status {
        RunStatus::Completed => 0,
        RunStatus::Diverged => EXIT_DIVERGED,
        RunStatus::Uncertain => EXIT_UNCERTAIN,
        RunStatus::Suspended => super::EXIT_SUSPENDED,
        _ => EXIT_FAILED,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12.12: `relive resume` honours `[journal] fsync` (it opened the
    /// journal with the default policy). Every command opens the journal
    /// through `open_journal`.
    #[test]
    fn commands_open_the_journal_with_the_configured_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("j.db");
        let mut config = Config::default();
        drop(open_journal(Some(&db), &config, true).unwrap());
        config.journal.fsync = crate::config::FsyncPolicy::EveryEntry;
        let journal = open_journal(Some(&db), &config, false).unwrap();
        assert_eq!(journal.info().sync, SyncPolicy::EveryEntry);
    }
}
