//! Keeping a journal in shape: cancelling runs for good and pruning old
//! ones (retention).

use crate::journal::{Journal, PruneReport, PruneRequest, RunStatus, now_ms};
use anyhow::anyhow;
use std::io::Write;

/// `relive cancel`: one transaction checks that the run is unfinished and
/// not executed by a live process, and marks it cancelled.
pub(super) fn cancel(journal: &dyn Journal, run: &str, reason: Option<&str>) -> anyhow::Result<u8> {
    let record = journal.find_run(run)?;
    // A lease left by a dead process on this machine does not protect it.
    let owner = match journal.lease(&record.id)? {
        Some(lease) if crate::control::leases::is_dead(journal, &lease.owner) => Some(lease.owner),
        _ => None,
    };
    let error = format!(
        "cancelled by an operator{}",
        reason.map(|r| format!(": {r}")).unwrap_or_default()
    );
    journal
        .cancel(&record.id, error, owner.as_deref())
        .wait_blocking()?;
    eprintln!("relive: run {} cancelled", record.id);
    Ok(0)
}

/// What `relive prune` was asked to delete.
pub(super) fn prune_request(
    older_than: std::time::Duration,
    statuses: &[String],
    force: bool,
    dry_run: bool,
) -> anyhow::Result<PruneRequest> {
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
                    anyhow!("{e}; use one of completed, failed, diverged, cancelled (and with --force running, suspended, uncertain)")
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    if !force && let Some(s) = statuses.iter().find(|s| !s.is_final()) {
        anyhow::bail!(
            "{s} runs can still go on; pass --force to delete them anyway (their agents can never continue them)"
        );
    }
    Ok(PruneRequest {
        updated_before_ms: now_ms()
            .saturating_sub(older_than.as_millis().min(i64::MAX as u128) as i64),
        statuses,
        force,
        dry_run,
    })
}

pub(super) fn prune(
    journal: &dyn Journal,
    request: &PruneRequest,
    vacuum: bool,
    json: bool,
) -> anyhow::Result<u8> {
    let before = file_size(journal);
    let report = journal.prune(request)?;
    if vacuum && !request.dry_run {
        journal.compact()?;
    }
    let after = file_size(journal);
    if json {
        let mut doc = serde_json::to_value(&report)?;
        doc["dry_run"] = request.dry_run.into();
        doc["file_bytes_before"] = before.into();
        doc["file_bytes_after"] = after.into();
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        eprintln!("relive: {}", describe(&report, request.dry_run));
        if vacuum && !request.dry_run {
            eprintln!("relive: the journal file went from {before} to {after} bytes");
        }
    }
    Ok(0)
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

/// The journal's size on disk in bytes (0 if the backend does not know).
fn file_size(journal: &dyn Journal) -> u64 {
    journal.info().bytes.unwrap_or(0)
}
