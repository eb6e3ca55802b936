//! One function per subcommand.

use super::format;
use super::{Cli, Command, EXIT_DIVERGED, EXIT_FAILED, EXIT_UNCERTAIN};
use crate::config::{Config, DEFAULT_DB_FILE};
use crate::journal::export::{self, JournalFile};
use crate::journal::{
    Durability, EntryState, Journal, Resolution, RunStatus, SqliteJournal, now_ms,
};
use crate::runtime::{Outcome, RunReport, Runtime, StartRequest};
use crate::tools::ToolError;
use anyhow::{Context, anyhow, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(super) fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run {
            ref agent,
            ref input,
            ref input_file,
            ref agent_name,
            json,
            quiet,
            verbose,
            stream,
        } => {
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
            let report = block_on(runtime.start(request, &config, observer, |id| {
                if !quiet {
                    eprintln!("relive: run {id} started (agent {name}, {shown})");
                }
            }))?;
            finish(&report, json, quiet)
        }
        Command::Resume {
            ref run,
            now,
            json,
            quiet,
            verbose,
            stream,
        } => {
            let db = db_path(cli.db.as_deref(), &Config::load(cli.config.as_deref())?);
            let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open_existing(&db)?);
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
            if let Some(w) = crate::waiting::Waiting::of_run(&entries)
                && w.kind == crate::journal::EntryKind::Timer
                && !now
                && !quiet
            {
                eprintln!(
                    "relive: the run sleeps: {w}; waiting (Ctrl-C leaves it suspended; --now wakes it)"
                );
            }
            let timers = if now {
                crate::replay::TimerPolicy::WakeNow
            } else {
                crate::replay::TimerPolicy::Wait
            };
            let report = block_on(runtime.resume(&record, &config, observer, timers))?;
            finish(&report, json, quiet)
        }
        Command::Runs {
            ref status,
            json,
            waiting,
        } => {
            let config = Config::load(cli.config.as_deref())?;
            let journal = open_journal(cli.db.as_deref(), &config, false)?;
            let filter: Option<RunStatus> = match status {
                Some(s) => Some(s.parse().map_err(|e: String| {
                    anyhow!(
                        "{e}; use one of running, suspended, completed, failed, diverged, uncertain"
                    )
                })?),
                None => None,
            };
            let runs: Vec<_> = journal
                .runs()?
                .into_iter()
                .filter(|r| filter.is_none_or(|f| r.status == f))
                .filter(|r| !waiting || r.status == RunStatus::Suspended)
                .collect();
            let waits: Vec<Option<crate::waiting::Waiting>> = runs
                .iter()
                .map(|r| {
                    if r.status == RunStatus::Suspended {
                        journal
                            .entries(&r.id)
                            .ok()
                            .and_then(|e| crate::waiting::Waiting::of_run(&e))
                    } else {
                        None
                    }
                })
                .collect();
            let mut out = std::io::stdout().lock();
            if json {
                let docs: Vec<_> = runs
                    .iter()
                    .zip(&waits)
                    .map(|(r, w)| {
                        let mut doc = serde_json::to_value(r).expect("runs serialise");
                        doc["waiting"] = serde_json::to_value(w).expect("waits serialise");
                        doc
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut out, &docs)?;
                writeln!(out)?;
            } else {
                format::runs_table(&runs, &waits, &mut out)?;
            }
            Ok(0)
        }
        Command::Show {
            ref run,
            full,
            json,
        } => {
            let config = Config::load(cli.config.as_deref())?;
            let journal = open_journal(cli.db.as_deref(), &config, false)?;
            let record = journal.find_run(run)?;
            let entries = journal.entries(&record.id)?;
            let mut out = std::io::stdout().lock();
            if json {
                let doc = serde_json::json!({ "run": record, "entries": entries });
                serde_json::to_writer_pretty(&mut out, &doc)?;
                writeln!(out)?;
            } else {
                let cost = run_cost(&config, &record.agent, &entries);
                format::timeline(&record, &entries, full, cost, &mut out)?;
            }
            Ok(0)
        }
        Command::Export {
            ref run,
            ref output,
        } => {
            let config = Config::load(cli.config.as_deref())?;
            let journal = open_journal(cli.db.as_deref(), &config, false)?;
            let record = journal.find_run(run)?;
            let file = JournalFile {
                entries: journal.entries(&record.id)?,
                run: record,
            };
            match output {
                Some(path) => {
                    let mut f = std::io::BufWriter::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("cannot create {}", path.display()))?,
                    );
                    export::write(&file, &mut f)?;
                    eprintln!(
                        "relive: wrote {} entries of run {} to {}",
                        file.entries.len(),
                        file.run.id,
                        path.display()
                    );
                }
                None => export::write(&file, &mut std::io::stdout().lock())?,
            }
            Ok(0)
        }
        Command::Replay {
            ref component,
            ref journal,
            json,
        } => replay(component, journal, json),
        Command::Import {
            ref file,
            ref component,
        } => {
            let config = Config::load(cli.config.as_deref())?;
            let journal = open_journal(cli.db.as_deref(), &config, true)?;
            import(&*journal, file, component.as_deref())
        }
        Command::Upgrade {
            ref run,
            ref agent,
            ref to,
            json,
        } => {
            let config = Config::load(cli.config.as_deref())?;
            let journal = open_journal(cli.db.as_deref(), &config, false)?;
            upgrade(journal, run.as_deref(), agent.as_deref(), to, json)
        }
        Command::Approve {
            ref run,
            ref note,
            ref details,
            ref by,
        } => {
            let answer = serde_json::json!({
                "decision": "approved",
                "details": details,
                "note": note,
                "by": who(by.as_deref()),
                "at_ms": now_ms(),
            });
            answer_wait(
                &cli,
                run,
                crate::journal::EntryKind::Approval,
                None,
                answer,
                "approved",
            )
        }
        Command::Reject {
            ref run,
            ref reason,
            ref by,
        } => {
            let answer = serde_json::json!({
                "decision": "rejected",
                "reason": reason,
                "by": who(by.as_deref()),
                "at_ms": now_ms(),
            });
            answer_wait(
                &cli,
                run,
                crate::journal::EntryKind::Approval,
                None,
                answer,
                "rejected",
            )
        }
        Command::Signal {
            ref run,
            ref name,
            ref data,
            ref by,
        } => {
            if let Some(data) = data {
                serde_json::from_str::<serde_json::Value>(data)
                    .map_err(|e| anyhow!("--data is not valid JSON: {e}"))?;
            }
            let answer = serde_json::json!({
                "payload": data,
                "by": who(by.as_deref()),
                "at_ms": now_ms(),
            });
            answer_wait(
                &cli,
                run,
                crate::journal::EntryKind::Signal,
                Some(name),
                answer,
                "delivered",
            )
        }
        Command::Resolve {
            ref run,
            retry,
            ref result,
            fail,
            ref reason,
        } => {
            let config = Config::load(cli.config.as_deref())?;
            let journal = open_journal(cli.db.as_deref(), &config, false)?;
            resolve(
                &*journal,
                run,
                retry,
                result.as_deref(),
                fail,
                reason.as_deref(),
            )
        }
    }
}

/// What a run's LLM calls cost at the configured prices; `None` when a
/// model it used has no prices (or no LLM call was made).
fn run_cost(config: &Config, agent: &str, entries: &[crate::journal::Entry]) -> Option<f64> {
    let default = config.agent(agent).models.first().cloned();
    let mut total = None;
    for e in entries
        .iter()
        .filter(|e| e.kind == crate::journal::EntryKind::Llm)
    {
        let Some(usage) = e.usage else { continue };
        let name = if e.name == "default" {
            default.clone()?
        } else {
            e.name.clone()
        };
        let prices = crate::llm::Prices::of(config.models.get(&name)?)?;
        *total.get_or_insert(0.0) += prices.cost(usage);
    }
    total
}

fn import(journal: &dyn Journal, file: &Path, component: Option<&Path>) -> anyhow::Result<u8> {
    let reader = std::fs::File::open(file)
        .with_context(|| format!("cannot read journal file {}", file.display()))?;
    let recorded = export::read(&mut std::io::BufReader::new(reader))
        .with_context(|| format!("journal file {}", file.display()))?;
    let digest = &recorded.run.component_digest;
    match component {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read component {}", path.display()))?;
            let found = crate::journal::component_digest(&bytes);
            if &found != digest {
                bail!(
                    "{} is {found}, but the run was recorded with {digest}; pass the component the run was recorded with",
                    path.display()
                );
            }
            journal.put_component(digest, &bytes).wait_blocking()?;
        }
        None if journal.component(digest)?.is_none() => bail!(
            "this journal does not hold the run's component {digest}; pass it with --component PATH"
        ),
        None => {}
    }
    if journal.find_run(&recorded.run.id).is_ok() {
        bail!("run {} is already in this journal", recorded.run.id);
    }
    let (id, count) = (recorded.run.id.clone(), recorded.entries.len());
    journal
        .import_run(recorded.run, recorded.entries)
        .wait_blocking()?;
    eprintln!("relive: imported run {id} ({count} entries)");
    Ok(0)
}

fn upgrade(
    journal: Arc<dyn Journal>,
    run: Option<&str>,
    agent: Option<&str>,
    to: &Path,
    json: bool,
) -> anyhow::Result<u8> {
    let bytes =
        std::fs::read(to).with_context(|| format!("cannot read component {}", to.display()))?;
    let digest = crate::journal::component_digest(&bytes);
    let runs = match (run, agent) {
        (Some(id), _) => vec![journal.find_run(id)?],
        (None, Some(agent)) => journal
            .runs()?
            .into_iter()
            .filter(|r| r.agent == agent && !r.status.is_final())
            .collect(),
        (None, None) => bail!("name a run, or --agent NAME for all of an agent's runs"),
    };
    if runs.is_empty() {
        bail!(
            "no unfinished runs of agent `{}`",
            agent.unwrap_or_default()
        );
    }
    let runtime = Runtime::new(journal.clone())?;
    let shown = to.display().to_string();
    let mut results = Vec::new();
    for run in &runs {
        let outcome = if run.status.is_final() {
            Err(format!(
                "the run is {}; only unfinished runs move",
                run.status
            ))
        } else if run.component_digest == digest {
            Ok(())
        } else {
            block_on(runtime.check_upgrade(&shown, &bytes, run))?
        };
        if outcome.is_ok() && run.component_digest != digest {
            journal.put_component(&digest, &bytes).wait_blocking()?;
            journal.set_component(&run.id, &digest).wait_blocking()?;
        }
        if !json {
            match &outcome {
                Ok(()) => eprintln!("relive: run {} now runs {digest}", run.id),
                Err(why) => eprintln!(
                    "relive: run {} left on {}: {why}",
                    run.id, run.component_digest
                ),
            }
        }
        results.push(serde_json::json!({
            "id": run.id,
            "upgraded": outcome.is_ok(),
            "component_digest": if outcome.is_ok() { &digest } else { &run.component_digest },
            "error": outcome.err(),
        }));
    }
    let refused = results.iter().any(|r| r["upgraded"] == false);
    if json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &results)?;
        writeln!(out)?;
    }
    Ok(if refused { EXIT_DIVERGED } else { 0 })
}

/// Who answers: `--by`, else $USER, else "operator".
fn who(by: Option<&str>) -> String {
    by.map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "operator".into())
}

/// Records the answer to what a suspended run waits for (an approval or a
/// signal); refuses a run that is not waiting for that, and a second answer.
fn answer_wait(
    cli: &Cli,
    run: &str,
    kind: crate::journal::EntryKind,
    signal: Option<&str>,
    answer: serde_json::Value,
    verb: &str,
) -> anyhow::Result<u8> {
    let config = Config::load(cli.config.as_deref())?;
    let journal = open_journal(cli.db.as_deref(), &config, false)?;
    let record = journal.find_run(run)?;
    let id = &record.id;
    let entries = journal.entries(id)?;
    let what = match signal {
        Some(name) => format!("the signal `{name}`"),
        None => "an approval".to_string(),
    };
    let Some(waiting) = crate::waiting::Waiting::of_run(&entries) else {
        // Say why: answered already, or not waiting at all.
        if let Some(last) = entries.last().filter(|e| e.kind == kind) {
            let by = last
                .response
                .as_deref()
                .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
                .map(|v| {
                    format!(
                        " ({} by {})",
                        v["decision"].as_str().unwrap_or("answered"),
                        v["by"].as_str().unwrap_or("someone")
                    )
                })
                .unwrap_or_default();
            bail!(
                "entry #{} of run {id} was already answered{by}; a second answer is refused",
                last.seq
            );
        }
        bail!(
            "run {id} is not waiting for {what} (it is {}); `relive runs --waiting` lists waiting runs",
            record.status
        );
    };
    if waiting.kind != kind || signal.is_some_and(|n| n != waiting.name) {
        bail!("run {id} is waiting for {waiting}, not for {what}");
    }
    journal
        .complete(
            id,
            waiting.seq,
            crate::journal::Completion {
                response: answer.to_string(),
                ..Default::default()
            },
            Durability::Sync,
        )
        .wait_blocking()?;
    eprintln!(
        "relive: {verb} ({waiting}, entry #{}); continue with `relive resume {id}`",
        waiting.seq
    );
    Ok(0)
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts")
        .block_on(future)
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

fn db_path(flag: Option<&Path>, config: &Config) -> PathBuf {
    match (flag, &config.journal.path) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => config.resolve(p),
        (None, None) => PathBuf::from(DEFAULT_DB_FILE),
    }
}

fn open_journal(
    flag: Option<&Path>,
    config: &Config,
    create: bool,
) -> anyhow::Result<Arc<dyn Journal>> {
    let path = db_path(flag, config);
    let journal = if create {
        SqliteJournal::open(&path, config.journal.fsync)?
    } else {
        SqliteJournal::open_existing(&path)?
    };
    Ok(Arc::new(journal))
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

fn replay(component: &Path, journal_path: &Path, json: bool) -> anyhow::Result<u8> {
    let bytes = std::fs::read(component)
        .with_context(|| format!("cannot read component {}", component.display()))?;
    let file = std::fs::File::open(journal_path)
        .with_context(|| format!("cannot read journal file {}", journal_path.display()))?;
    let recorded = export::read(&mut std::io::BufReader::new(file))
        .with_context(|| format!("journal file {}", journal_path.display()))?;
    let report = crate::testing::replay(&component.display().to_string(), &bytes, &recorded)?;
    let passed = crate::testing::passed(&report, &recorded);
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({
            "passed": passed,
            "run": recorded.run.id,
            "entries": recorded.entries.len(),
            "status": report.outcome.status(),
            "divergence": match &report.outcome {
                Outcome::Diverged(d) => Some(d.to_string()),
                _ => None,
            },
            "error": report_error(&report),
        });
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    } else if passed {
        writeln!(
            out,
            "replay passed: {} entries of run {} matched, same output",
            recorded.entries.len(),
            recorded.run.id
        )?;
    } else {
        match &report.outcome {
            Outcome::Diverged(d) => writeln!(out, "replay failed: run {} {d}", recorded.run.id)?,
            _ => writeln!(
                out,
                "replay failed: {}",
                report_error(&report).unwrap_or_default()
            )?,
        }
    }
    Ok(if passed {
        0
    } else if matches!(report.outcome, Outcome::Diverged(_)) {
        EXIT_DIVERGED
    } else {
        EXIT_FAILED
    })
}

fn report_error(report: &RunReport) -> Option<String> {
    match &report.outcome {
        Outcome::Failed { error } => Some(error.clone()),
        _ => None,
    }
}

fn resolve(
    journal: &dyn Journal,
    run: &str,
    retry: bool,
    result: Option<&str>,
    fail: bool,
    reason: Option<&str>,
) -> anyhow::Result<u8> {
    let record = journal.find_run(run)?;
    if record.status != RunStatus::Uncertain {
        bail!(
            "run {} is {}, not uncertain: there is nothing to resolve",
            record.id,
            record.status
        );
    }
    let entries = journal.entries(&record.id)?;
    let entry = entries
        .last()
        .filter(|e| e.state == EntryState::Started)
        .ok_or_else(|| anyhow!("run {} has no interrupted entry", record.id))?;
    if entry.resolution.is_some() {
        bail!(
            "entry #{} of run {} is already resolved; continue with `relive resume {}`",
            entry.seq,
            record.id,
            record.id
        );
    }
    let at_ms = now_ms();
    let id = &record.id;
    if retry {
        journal
            .resolve(id, entry.seq, Resolution::Retry { at_ms }, None)
            .wait_blocking()?;
        journal
            .set_status(id, RunStatus::Running, None, None, Durability::Sync)
            .wait_blocking()?;
        eprintln!(
            "relive: entry #{} ({} `{}`) will run again; continue with `relive resume {id}`",
            entry.seq, entry.kind, entry.name
        );
    } else if let Some(json) = result {
        serde_json::from_str::<serde_json::Value>(json)
            .map_err(|e| anyhow!("--result is not valid JSON: {e}"))?;
        let response =
            serde_json::to_string(&Ok::<String, ToolError>(json.to_string())).expect("serialises");
        journal
            .resolve(id, entry.seq, Resolution::Result { at_ms }, Some(response))
            .wait_blocking()?;
        journal
            .set_status(id, RunStatus::Running, None, None, Durability::Sync)
            .wait_blocking()?;
        eprintln!(
            "relive: entry #{} ({} `{}`) recorded with the given result; continue with `relive resume {id}`",
            entry.seq, entry.kind, entry.name
        );
    } else if fail {
        journal
            .resolve(id, entry.seq, Resolution::Fail { at_ms }, None)
            .wait_blocking()?;
        let error = format!(
            "failed by an operator: entry #{} ({} `{}`) was interrupted{}",
            entry.seq,
            entry.kind,
            entry.name,
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        journal
            .set_status(id, RunStatus::Failed, None, Some(error), Durability::Sync)
            .wait_blocking()?;
        eprintln!("relive: run {id} marked failed");
    } else {
        bail!("say what to do: --retry, --result JSON or --fail");
    }
    Ok(0)
}
