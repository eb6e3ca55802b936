//! Reading a journal from the command line: the runs (as a tree), one run's
//! timeline, a run exported as a portable file.

use super::commands::open_journal;
use super::format;
use super::{Cli, ExportArgs, RunsArgs, ShowArgs};
use crate::config::Config;
use crate::journal::export::{self, JournalFile};
use crate::journal::{Journal, RunQuery, RunRecord, RunStatus, Waiting};
use anyhow::{Context, anyhow};
use std::io::Write;

pub(super) fn runs(cli: &Cli, args: &RunsArgs) -> anyhow::Result<u8> {
    let RunsArgs {
        ref status,
        ref agent,
        ref parent,
        limit,
        ref before,
        all,
        json,
        waiting,
    } = *args;
    let config = Config::load(cli.config.as_deref())?;
    let journal = open_journal(cli.db.as_deref(), &config, false)?;
    let filter: Option<RunStatus> = match status {
        Some(s) => Some(s.parse().map_err(|e: String| {
            anyhow!(
                "{e}; use one of running, suspended, completed, failed, diverged, uncertain, cancelled"
            )
        })?),
        None => None,
    };
    let filter = if waiting {
        Some(RunStatus::Suspended)
    } else {
        filter
    };
    let query = RunQuery {
        status: filter,
        agent: agent.clone(),
        // Top-level runs, each with its tree under it; or one run's children.
        parent: Some(parent.clone().unwrap_or_default()),
        limit: if all { usize::MAX } else { limit.max(1) },
        before: before.clone(),
    };
    let top = journal.runs(&query)?;
    // The cursor of the next page is the page's last top-level run: its
    // children, listed under it, are newer than it and would bring the
    // tree back.
    let next_page = top
        .last()
        .filter(|_| !all && top.len() == query.limit)
        .map(|r| (top.len(), r.id.clone()));
    let mut runs = Vec::new();
    let mut depths = Vec::new();
    for run in top {
        let id = run.id.clone();
        runs.push(run);
        depths.push(0);
        descendants(&*journal, &id, 1, &mut runs, &mut depths)?;
    }
    let waits: Vec<Option<Waiting>> = runs.iter().map(|r| waiting_of(&*journal, r)).collect();
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
        format::runs_table(&runs, &depths, &waits, &mut out)?;
        if let Some((shown, last)) = next_page {
            eprintln!(
                "relive: showing the newest {shown}; older ones with `relive runs --before {last}`, or all with --all"
            );
        }
    }
    Ok(0)
}

/// Appends the child runs of `run` (and theirs), oldest first, with their
/// depth in the tree.
fn descendants(
    journal: &dyn Journal,
    run: &str,
    depth: usize,
    runs: &mut Vec<crate::journal::RunRecord>,
    depths: &mut Vec<usize>,
) -> anyhow::Result<()> {
    let query = RunQuery {
        parent: Some(run.to_string()),
        ..RunQuery::default()
    };
    let mut children = crate::journal::all_runs_where(journal, query)?;
    children.reverse();
    for child in children {
        let id = child.id.clone();
        runs.push(child);
        depths.push(depth);
        descendants(journal, &id, depth + 1, runs, depths)?;
    }
    Ok(())
}

pub(super) fn show(cli: &Cli, args: &ShowArgs) -> anyhow::Result<u8> {
    let ShowArgs {
        ref run,
        full,
        json,
    } = *args;
    let config = Config::load(cli.config.as_deref())?;
    let journal = open_journal(cli.db.as_deref(), &config, false)?;
    let record = journal.find_run(run)?;
    let entries = journal.entries(&record.id)?;
    let mut children = Vec::new();
    descendants(&*journal, &record.id, 1, &mut children, &mut Vec::new())?;
    let children: Vec<_> = children
        .into_iter()
        .filter(|c| c.parent.as_deref() == Some(record.id.as_str()))
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let children: Vec<_> = children
            .iter()
            .map(|c| serde_json::json!({ "id": c.id, "agent": c.agent, "status": c.status }))
            .collect();
        let doc = serde_json::json!({ "run": record, "entries": entries, "children": children });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        let calls = entries
            .iter()
            .filter(|e| e.kind == crate::journal::EntryKind::Llm)
            .filter_map(|e| {
                let u = e.usage?;
                Some((
                    e.name.as_str(),
                    u64::from(u.input_tokens),
                    u64::from(u.output_tokens),
                ))
            });
        let cost = crate::llm::pricing::usage_cost(&config, &record.agent, calls);
        format::timeline(&record, &entries, full, cost, &mut out)?;
        if let Some(parent) = &record.parent {
            writeln!(out, "started by run {parent} (`relive show {parent}`)")?;
        }
        for child in &children {
            writeln!(
                out,
                "child run {} ({}): {}",
                child.id, child.agent, child.status
            )?;
        }
    }
    Ok(0)
}

pub(super) fn export_run(cli: &Cli, args: &ExportArgs) -> anyhow::Result<u8> {
    let ExportArgs {
        ref run,
        ref output,
    } = *args;
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

/// What a suspended run waits for (from its last entry).
fn waiting_of(journal: &dyn Journal, run: &RunRecord) -> Option<Waiting> {
    if run.status != RunStatus::Suspended {
        return None;
    }
    journal
        .summary(&run.id)
        .ok()
        .and_then(|s| s.last.as_ref().and_then(Waiting::of))
}
