//! Commands that move journals between builds and places: replay a
//! journal file against a component, import one, upgrade runs to a new
//! build.

use super::commands::block_on;
use super::{EXIT_DIVERGED, EXIT_FAILED};
use crate::journal::Journal;
use crate::journal::export;
use crate::runtime::{Outcome, RunReport, Runtime};
use anyhow::{Context, bail};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

pub(super) fn import(
    journal: &dyn Journal,
    file: &Path,
    component: Option<&Path>,
) -> anyhow::Result<u8> {
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

pub(super) fn upgrade(
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
        (None, Some(agent)) => crate::journal::all_runs(&*journal, None)?
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
        // The run is claimed while it is checked and switched: nobody
        // executes it meanwhile, and the switch is refused if somebody
        // took it over since.
        let claim = if run.status.is_final() || run.component_digest == digest {
            None
        } else {
            Some(crate::control::leases::acquire(&*journal, &run.id))
        };
        let outcome = if run.status.is_final() {
            Err(format!(
                "the run is {}; only unfinished runs move",
                run.status
            ))
        } else if run.component_digest == digest {
            Ok(())
        } else {
            match &claim {
                Some(Err(e)) => Err(e.to_string()),
                _ => block_on(runtime.check_upgrade(&shown, &bytes, run))?,
            }
        };
        if let Some(Ok(fence)) = &claim {
            if outcome.is_ok() {
                journal.put_component(&digest, &bytes).wait_blocking()?;
                journal.set_component(fence, &digest).wait_blocking()?;
            }
            journal.release(fence)?;
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

pub(super) fn replay(component: &Path, journal_path: &Path, json: bool) -> anyhow::Result<u8> {
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
            "monotonic_reads": {
                "skipped": report.tolerated.skipped,
                "synthesized": report.tolerated.synthesized,
            },
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
        if !report.tolerated.is_empty() {
            writeln!(out, "{}", tolerated_note(report.tolerated))?;
        }
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

/// The note under a replay that matched monotonic clock reads by order
/// only (their values carry nothing else).
fn tolerated_note(t: crate::engine::ToleratedReads) -> String {
    format!(
        "note: monotonic clock reads matched by order only: {} recorded reads the agent no longer makes were skipped, {} new reads got the clock's last value",
        t.skipped, t.synthesized
    )
}

pub(super) fn report_error(report: &RunReport) -> Option<String> {
    match &report.outcome {
        Outcome::Failed { error } => Some(error.clone()),
        _ => None,
    }
}
