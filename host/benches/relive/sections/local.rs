//! a. A journaled local host call: a clock or random read, which relive
//! records lazily (committed with the next batch by the journal writer).

use crate::Outcome;
use crate::floors::{self, CLOCK_ROW, RawJournal};
use crate::report::{Figure, Unit};
use crate::setup::Bench;
use relive::config::FsyncPolicy;

/// Reads per run; the figure is (run of `READS` − run of 0) / `READS`.
const READS: u64 = 50_000;
/// Rows per sample of the batched-insert floor, and per transaction.
const ROWS: usize = 50_000;
const ROWS_PER_TX: usize = 1_000;

pub fn run(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let bare = Figure::floor(
        "local.bare_call",
        "bare guest→host call, component import, no journal",
        Unit::Us,
        floors::bare_component_call(bench)?,
    );
    let bare_core = Figure::floor(
        "local.bare_call_core",
        "bare guest→host call, core-module import",
        Unit::Us,
        floors::bare_core_call(bench)?,
    );
    let mut raw = RawJournal::create(&bench.scratch("raw-batched.db"))?;
    raw.insert_rows(&CLOCK_ROW, ROWS / 10, ROWS_PER_TX)?;
    let mut samples = Vec::new();
    for _ in 0..bench.reps {
        samples.push(raw.insert_rows(&CLOCK_ROW, ROWS, ROWS_PER_TX)?);
    }
    let batched = Figure::floor(
        "local.batched_insert",
        "SQLite insert of an entry row, 1,000 rows per transaction",
        Unit::Us,
        samples,
    );

    let (runtime, config) = bench.runtime("local", FsyncPolicy::Critical)?;
    let clock = Figure::relive(
        "local.clock_read",
        "journaled clock read (wasi wall-clock `now`)",
        Unit::Us,
        bench.per_step_us(&runtime, &config, "clock", 0, READS)?,
    )
    .within(2.0, &batched, "≤ 2× batched insert");
    let random = Figure::relive(
        "local.random_read",
        "journaled random read (wasi `get-random-u64`)",
        Unit::Us,
        bench.per_step_us(&runtime, &config, "random", 0, READS)?,
    )
    .within(2.0, &batched, "≤ 2× batched insert");
    let notes = vec![
        format!(
            "relive: wall time of a run of 50,000 reads minus a run of none, over 50,000: the writer thread's commits (it batches up to 1,024 entries) and the run's final fsync included"
        ),
        format!(
            "a journaled clock read costs {:.1}× a bare component call, {:.1}× a bare core-module call",
            clock.value / bare.value,
            clock.value / bare_core.value
        ),
    ];
    Ok(Outcome::Measured {
        figures: vec![bare, bare_core, batched, clock, random],
        notes,
    })
}
