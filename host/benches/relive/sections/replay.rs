//! c. Replay speed: resuming a run whose journal holds 10,000 entries, all
//! answered from the journal.
//!
//! A 10,000-step run is recorded once; each repetition imports a copy of
//! its entries as a new, still-running run (as a crash would leave it, just
//! before its end) and resumes it with `Runtime::resume` on a runtime that
//! has the component compiled, as `relive serve` would.

use crate::Outcome;
use crate::floors;
use crate::report::{Figure, Unit};
use crate::setup::{Bench, completed, input, ms};
use relive::config::FsyncPolicy;
use relive::engine::TimerPolicy;
use relive::journal::{RunStatus, new_run_id};
use std::time::Instant;

/// Entries in the replayed journal (one per step).
const ENTRIES: u64 = 10_000;

pub fn run(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let (runtime, config) = bench.runtime("replay", FsyncPolicy::Critical)?;
    let db = config
        .journal
        .path
        .clone()
        .expect("the bench config names its journal");
    let (_, recorded) = bench.start(&runtime, &config, input(ENTRIES, "tool"))?;
    let output = completed(&recorded)?.to_string();
    let journal = runtime.journal().clone();
    let original = journal.find_run(&recorded.run_id)?;
    let entries = journal.entries(&original.id)?;
    anyhow::ensure!(
        entries.len() as u64 == ENTRIES,
        "expected {ENTRIES} entries, found {}",
        entries.len()
    );

    let mut raw_read = Vec::new();
    let mut read = Vec::new();
    let mut replay = Vec::new();
    let mut resume = Vec::new();
    let mut per_entry = Vec::new();
    for _ in 0..bench.reps + 1 {
        let mut copy = original.clone();
        copy.id = new_run_id();
        copy.status = RunStatus::Running;
        copy.output = None;
        copy.error = None;
        journal
            .import_run(copy.clone(), entries.clone())
            .wait_blocking()?;
        let copy = journal.find_run(&copy.id)?;

        let (raw_ms, rows) = floors::read_entries_ms(&db, &copy.id)?;
        anyhow::ensure!(rows as u64 == ENTRIES, "raw read found {rows} rows");
        let begun = Instant::now();
        let again = journal.entries(&copy.id)?;
        let read_ms = ms(begun.elapsed());
        drop(again);

        let begun = Instant::now();
        let report = bench
            .rt
            .block_on(runtime.resume(&copy, &config, None, TimerPolicy::Wait))?;
        let resume_ms = ms(begun.elapsed());
        anyhow::ensure!(
            completed(&report)? == output,
            "the resumed run's output differs from the recorded one"
        );
        anyhow::ensure!(
            report.replayed as u64 == ENTRIES,
            "replayed {} entries",
            report.replayed
        );
        let replay_ms = ms(report.elapsed);
        raw_read.push(raw_ms);
        read.push(read_ms);
        replay.push(replay_ms);
        resume.push(resume_ms);
        per_entry.push((read_ms + replay_ms) * 1000.0 / ENTRIES as f64);
    }
    // The first repetition warms the page cache and the allocator.
    for samples in [
        &mut raw_read,
        &mut read,
        &mut replay,
        &mut resume,
        &mut per_entry,
    ] {
        samples.remove(0);
    }

    let raw_read = Figure::floor(
        "replay.raw_read",
        "SELECT of the 10,000 entry rows (plain rusqlite)",
        Unit::Ms,
        raw_read,
    );
    let total: Vec<f64> = read.iter().zip(&replay).map(|(r, p)| r + p).collect();
    let total = Figure::relive(
        "replay.total",
        "replay of 10,000 entries: journal read + re-execution",
        Unit::Ms,
        total,
    )
    .below(50.0, "< 50 ms");
    let per_entry = Figure::relive("replay.per_entry", "replay, per entry", Unit::Us, per_entry);
    let read = Figure::detail(
        "replay.read",
        "  journal read (`Journal::entries`)",
        Unit::Ms,
        read,
    )
    .versus(&raw_read, "vs plain SELECT");
    let replay = Figure::detail(
        "replay.execute",
        "  re-execution: instantiate + 10,000 answered calls",
        Unit::Ms,
        replay,
    );
    let resume = Figure::detail(
        "replay.resume",
        "`Runtime::resume` in all: lease, read, replay, final fsync",
        Unit::Ms,
        resume,
    );
    let notes = vec![
        "the journal: a 10,000-step run of `steps` (one `step` tool entry per step, ~200-byte results)".to_string(),
    ];
    Ok(Outcome::Measured {
        figures: vec![raw_read, total, per_entry, read, replay, resume],
        notes,
    })
}
