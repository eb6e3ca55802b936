//! Retention: which runs a prune deletes, and a prune in words. The
//! deleting itself is one journal operation (`Journal::prune`).

use crate::journal::{PruneReport, PruneRequest, RunStatus, now_ms};

/// What `relive prune` was asked to delete.
pub fn prune_request(
    older_than: std::time::Duration,
    statuses: &[String],
    force: bool,
    dry_run: bool,
) -> Result<PruneRequest, String> {
    let statuses: Vec<RunStatus> = if statuses.is_empty() {
        RunStatus::ALL
            .into_iter()
            .filter(|s| s.is_final() || force)
            .collect()
    } else {
        statuses
            .iter()
            .map(|s| {
                s.trim().parse().map_err(|e: String| {
                    format!("{e}; use one of completed, failed, diverged, cancelled (and with --force running, suspended, uncertain)")
                })
            })
            .collect::<Result<_, String>>()?
    };
    if !force && let Some(s) = statuses.iter().find(|s| !s.is_final()) {
        return Err(format!(
            "{s} runs can still go on; pass --force to delete them anyway (their agents can never continue them)"
        ));
    }
    Ok(PruneRequest {
        updated_before_ms: now_ms()
            .saturating_sub(older_than.as_millis().min(i64::MAX as u128) as i64),
        statuses,
        force,
        dry_run,
    })
}

/// One line about a prune, for people.
pub fn describe(report: &PruneReport, dry_run: bool) -> String {
    format!(
        "{} {} runs ({} entries), {} blobs ({} bytes) and {} components ({} bytes)",
        if dry_run { "would delete" } else { "deleted" },
        report.runs,
        report.entries,
        report.blobs,
        report.blob_bytes,
        report.components,
        report.component_bytes
    )
}

/// A prune of finished runs last updated longer ago than `age`, as
/// `relive serve --retain-days` makes it every hour.
pub fn finished_older_than(age: std::time::Duration) -> PruneRequest {
    PruneRequest {
        updated_before_ms: now_ms().saturating_sub(age.as_millis().min(i64::MAX as u128) as i64),
        statuses: RunStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect(),
        force: false,
        dry_run: false,
    }
}
