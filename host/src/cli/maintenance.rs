//! Keeping a journal in shape: cancelling runs for good and pruning old
//! ones (retention).

use crate::journal::{Journal, PruneRequest};
use std::io::Write;

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
        eprintln!(
            "relive: {}",
            crate::control::retention::describe(&report, request.dry_run)
        );
        if vacuum && !request.dry_run {
            eprintln!("relive: the journal file went from {before} to {after} bytes");
        }
    }
    Ok(0)
}

/// The journal's size on disk in bytes (0 if the backend does not know).
fn file_size(journal: &dyn Journal) -> u64 {
    journal.info().bytes.unwrap_or(0)
}
