//! The check of a copy: a digest per run over its record and its entries'
//! content, read through the [`Journal`] trait on both sides, and the
//! totals, compared. A difference names the run (and the first entry) that
//! differs.

use crate::journal::{Journal, JournalError, RunRecord, all_runs, component_digest};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// One run's digest: over its record, then over each entry in order.
#[derive(Clone, Debug, Serialize)]
pub struct RunDigest {
    pub id: String,
    pub status: String,
    pub entries: usize,
    /// Hex SHA-256 over the record's digest and every entry's digest.
    pub digest: String,
    /// Why the run's entries could not be read (a missing or damaged
    /// blob, an entry that does not parse), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    record_digest: [u8; 32],
    #[serde(skip)]
    entry_digests: Vec<[u8; 32]>,
}

/// What one journal holds, as the check sees it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Side {
    /// Where it is (a path, or a URL without its password).
    pub location: String,
    pub runs: usize,
    /// Runs per status.
    pub statuses: BTreeMap<String, usize>,
    pub entries: usize,
    /// Components the runs are pinned to, present with the right bytes.
    pub components: usize,
    /// Hex SHA-256 over every run's id and digest, in id order.
    pub digest: String,
    #[serde(skip)]
    pub per_run: BTreeMap<String, RunDigest>,
    /// Components missing or damaged: (digest, what is wrong).
    #[serde(skip)]
    bad_components: Vec<(String, String)>,
}

/// One thing that differs between the two journals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The run it concerns, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    pub what: String,
}

/// Both sides and what differs.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub source: Side,
    pub destination: Side,
    pub differences: Vec<Difference>,
}

impl Verification {
    /// Whether the destination holds exactly what the source holds.
    pub fn ok(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Reads both journals and compares them; `progress(side, checked, total)`
/// is called as runs are read (`side` is `source` or `destination`).
pub fn verify(
    source: &dyn Journal,
    destination: &dyn Journal,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Verification, JournalError> {
    let source = side(source, &mut |n, total| progress("source", n, total))?;
    let destination = side(destination, &mut |n, total| {
        progress("destination", n, total)
    })?;
    let differences = compare(&source, &destination);
    Ok(Verification {
        source,
        destination,
        differences,
    })
}

/// A run's digest, as [`verify`] computes it.
pub fn run_digest(journal: &dyn Journal, run: &RunRecord) -> RunDigest {
    let record_digest = sha256(&serde_json::to_vec(run).expect("a run record serialises"));
    let (entry_digests, error) = match journal.entries(&run.id) {
        Ok(entries) => (
            entries
                .iter()
                .map(|e| sha256(&serde_json::to_vec(e).expect("an entry serialises")))
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let mut all = Sha256::new();
    all.update(record_digest);
    for d in &entry_digests {
        all.update(d);
    }
    RunDigest {
        id: run.id.clone(),
        status: run.status.to_string(),
        entries: entry_digests.len(),
        digest: hex::encode(all.finalize()),
        error,
        record_digest,
        entry_digests,
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn side(
    journal: &dyn Journal,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Side, JournalError> {
    let runs = all_runs(journal, None)?;
    let mut side = Side {
        location: journal.info().location,
        runs: runs.len(),
        ..Side::default()
    };
    for (i, run) in runs.iter().enumerate() {
        let digest = run_digest(journal, run);
        *side.statuses.entry(digest.status.clone()).or_default() += 1;
        side.entries += digest.entries;
        side.per_run.insert(run.id.clone(), digest);
        if (i + 1) % 100 == 0 || i + 1 == runs.len() {
            progress(i + 1, runs.len());
        }
    }
    let pinned: BTreeSet<&str> = runs.iter().map(|r| r.component_digest.as_str()).collect();
    for digest in pinned {
        match journal.component(digest)? {
            Some(bytes) if component_digest(&bytes) == digest => side.components += 1,
            Some(_) => side.bad_components.push((
                digest.to_string(),
                "its bytes do not match its digest".into(),
            )),
            None => side
                .bad_components
                .push((digest.to_string(), "it is missing".into())),
        }
    }
    let mut all = Sha256::new();
    for (id, run) in &side.per_run {
        all.update(format!("{id} {}\n", run.digest));
    }
    side.digest = hex::encode(all.finalize());
    Ok(side)
}

/// What differs, run by run (in id order), then components.
fn compare(source: &Side, destination: &Side) -> Vec<Difference> {
    let mut differences = Vec::new();
    let ids: BTreeSet<&String> = source
        .per_run
        .keys()
        .chain(destination.per_run.keys())
        .collect();
    for id in ids {
        let what = match (source.per_run.get(id), destination.per_run.get(id)) {
            (Some(_), None) => Some("it is missing from the destination".to_string()),
            (None, Some(_)) => Some("it is in the destination but not in the source".to_string()),
            (Some(a), Some(b)) => run_difference(a, b),
            (None, None) => None,
        };
        if let Some(what) = what {
            differences.push(Difference {
                run: Some(id.clone()),
                what,
            });
        }
    }
    for (label, side) in [("source", source), ("destination", destination)] {
        for (digest, what) in &side.bad_components {
            differences.push(Difference {
                run: None,
                what: format!("component {digest} in the {label}: {what}"),
            });
        }
    }
    differences
}

/// How two digests of one run differ, if they do.
fn run_difference(source: &RunDigest, destination: &RunDigest) -> Option<String> {
    if let Some(e) = &destination.error {
        return Some(format!(
            "its entries cannot be read in the destination: {e}"
        ));
    }
    if let Some(e) = &source.error {
        return Some(format!("its entries cannot be read in the source: {e}"));
    }
    if source.digest == destination.digest {
        return None;
    }
    if source.record_digest != destination.record_digest {
        return Some(format!(
            "its run record differs (status {} in the source, {} in the destination; or its input, output, error, times or policy)",
            source.status, destination.status
        ));
    }
    let first = source
        .entry_digests
        .iter()
        .zip(&destination.entry_digests)
        .position(|(a, b)| a != b);
    Some(match first {
        Some(seq) => format!("entry #{seq} differs"),
        None => format!(
            "the source has {} entries, the destination {}",
            source.entries, destination.entries
        ),
    })
}
