//! The copy: every run with its entries, oldest first, each after the
//! component it is pinned to, in windows of runs whose writes the
//! destination commits together (group commit).

use crate::journal::{Commit, Journal, JournalError, RunQuery, RunRecord};
use std::collections::BTreeSet;

/// Runs whose writes are submitted before waiting for their commits: large
/// enough for the destination to group them, small enough to hold only a
/// few runs' entries in memory.
const WINDOW: usize = 32;

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub runs: usize,
    pub entries: usize,
    pub components: usize,
}

/// Refuses a destination that holds a run already: a copy goes into an
/// empty journal only, so that nothing in it is mixed with the copy.
pub fn ensure_empty(destination: &dyn Journal) -> Result<(), JournalError> {
    let query = RunQuery {
        limit: 1,
        ..RunQuery::default()
    };
    if let Some(run) = destination.runs(&query)?.first() {
        return Err(JournalError::Refused(format!(
            "the destination {} is not empty (it holds run {} and maybe more); relive migrate copies into an empty journal only: give --to a new file, or an empty database or schema (check a finished copy with --verify-only)",
            destination.info().location,
            run.id
        )));
    }
    Ok(())
}

/// Copies `runs` (read from `source`) into `destination`, oldest first;
/// calls `progress(copied, total)` after every window of runs.
pub fn copy_runs(
    source: &dyn Journal,
    destination: &dyn Journal,
    runs: &[RunRecord],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<CopyReport, JournalError> {
    let mut report = CopyReport::default();
    let mut components = BTreeSet::new();
    let mut ordered: Vec<&RunRecord> = runs.iter().collect();
    ordered.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    for window in ordered.chunks(WINDOW) {
        let mut commits = Vec::with_capacity(window.len() * 2);
        for run in window {
            if components.insert(run.component_digest.clone()) {
                commits.push(copy_component(source, destination, run)?);
                report.components += 1;
            }
            let entries = source.entries(&run.id)?;
            report.entries += entries.len();
            commits.push(destination.import_run((*run).clone(), entries));
        }
        for commit in commits {
            commit.wait_blocking()?;
        }
        report.runs += window.len();
        progress(report.runs, runs.len());
    }
    Ok(report)
}

fn copy_component(
    source: &dyn Journal,
    destination: &dyn Journal,
    run: &RunRecord,
) -> Result<Commit, JournalError> {
    let digest = &run.component_digest;
    let Some(bytes) = source.component(digest)? else {
        return Err(JournalError::Other(format!(
            "run {} is pinned to component {digest}, which the source journal does not hold; the source is damaged: keep a copy of it and report it",
            run.id
        )));
    };
    Ok(destination.put_component(digest, &bytes))
}
