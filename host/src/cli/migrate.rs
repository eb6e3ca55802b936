//! `relive migrate`: copies a journal into another one — SQLite to
//! PostgreSQL when moving to several hosts, PostgreSQL to SQLite to come
//! back, or a file to a file — then checks the copy and prints what both
//! hold. The copy and the check are the journal's own
//! (`journal::migrate`); this face refuses a source that live processes
//! still execute runs of, and shows progress.

use crate::control::leases;
use crate::journal::migrate::{self, Verification};
use crate::journal::{Journal, Location, OpenOptions, RunRecord, all_runs, now_ms};
use anyhow::{Context, bail};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often progress lines are printed on a long copy.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The arguments of `relive migrate`.
#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// The journal to copy: an SQLite file or a postgres:// URL. It is
    /// only read (an old SQLite file is brought to the current schema
    /// first, as every relive command does).
    #[arg(long, value_name = "PATH|URL")]
    pub from: String,
    /// Where to copy it: a new SQLite file, or an empty PostgreSQL
    /// database (or schema: add ?options=-c%20search_path%3DNAME to the
    /// URL). A journal that holds runs is refused.
    #[arg(long, value_name = "PATH|URL")]
    pub to: String,
    /// Copy nothing: check an earlier copy (every run's digest and the
    /// totals) and print the summary; exits 1 if anything differs.
    #[arg(long)]
    pub verify_only: bool,
    /// Print the check as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print no progress lines.
    #[arg(long, short)]
    pub quiet: bool,
}

pub(super) fn run(args: &MigrateArgs) -> anyhow::Result<u8> {
    let from = Location::parse(&args.from);
    let to = Location::parse(&args.to);
    refuse_same(&from, &to)?;
    let source = open(&from, false).context("cannot open the source journal (--from)")?;
    if args.verify_only {
        let destination = open(&to, false).context("cannot open the destination journal (--to)")?;
        return check(&*source, &*destination, args);
    }
    let runs = all_runs(&*source, None)?;
    refuse_live_leases(&*source, &runs)?;
    let destination = open(&to, true).context("cannot open the destination journal (--to)")?;
    migrate::ensure_empty(&*destination)?;
    let began = Instant::now();
    let mut progress = Progress::new("copied", args.quiet);
    if !args.quiet {
        eprintln!(
            "relive: copying {} runs from {} to {}",
            runs.len(),
            from.shown(),
            to.shown()
        );
    }
    let report = migrate::copy_runs(&*source, &*destination, &runs, &mut |n, total| {
        progress.show(n, total)
    })
    .with_context(|| {
        format!(
            "the copy stopped; {} holds a partial copy: delete it (or drop its schema) and run relive migrate again",
            to.shown()
        )
    })?;
    if !args.quiet {
        eprintln!(
            "relive: copied {} runs, {} entries and {} components in {:.1} s; checking the copy",
            report.runs,
            report.entries,
            report.components,
            began.elapsed().as_secs_f64()
        );
    }
    check(&*source, &*destination, args)
}

fn open(location: &Location, create: bool) -> anyhow::Result<Arc<dyn Journal>> {
    let options = OpenOptions {
        create,
        ..OpenOptions::default()
    };
    Ok(crate::journal::open(location.clone(), options)?)
}

/// Copying a journal onto itself would find it not empty, or worse.
fn refuse_same(from: &Location, to: &Location) -> anyhow::Result<()> {
    let same = match (from, to) {
        (Location::Sqlite(a), Location::Sqlite(b)) => {
            a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
        }
        (a, b) => a == b,
    };
    if same {
        bail!(
            "--from and --to both name {}; give --to a new SQLite file or an empty PostgreSQL database",
            from.shown()
        );
    }
    Ok(())
}

/// Refuses while a live relive process holds the lease of a run: it would
/// go on writing into the source after its run was copied.
fn refuse_live_leases(source: &dyn Journal, runs: &[RunRecord]) -> anyhow::Result<()> {
    let mut live = Vec::new();
    for run in runs.iter().filter(|r| !r.status.is_final()) {
        if let Some(lease) = source.lease(&run.id)?
            && lease.expires_at_ms > now_ms()
            && !leases::is_dead(source, &lease.owner)
        {
            let who = match source.instance(&lease.owner)? {
                Some(i) => format!("{} on {} (pid {})", i.id, i.host, i.pid),
                None => lease.owner.clone(),
            };
            live.push(format!("run {} by {who}", run.id));
        }
    }
    if live.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = live.iter().take(5).map(String::as_str).collect();
    let more = live.len().saturating_sub(shown.len());
    bail!(
        "{} runs of the source are being executed by live relive processes ({}{}); stop every `relive serve` (SIGTERM) and `relive run`/`resume` that uses the source, then run relive migrate again (the lease of a process that was killed expires within {} s)",
        live.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        leases::ttl().as_secs().max(1)
    )
}

/// Checks the copy, prints the summary, and fails naming the first run
/// that differs.
fn check(
    source: &dyn Journal,
    destination: &dyn Journal,
    args: &MigrateArgs,
) -> anyhow::Result<u8> {
    let mut progress = Progress::new("checked", args.quiet);
    let verification = migrate::verify(source, destination, &mut |side, n, total| {
        progress.show_side(side, n, total)
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut doc = serde_json::to_value(&verification)?;
        doc["ok"] = verification.ok().into();
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        out.write_all(super::migrate_table::render(&verification).as_bytes())?;
    }
    out.flush()?;
    fail_on_differences(&verification)?;
    if !args.quiet && !args.json {
        eprintln!(
            "relive: the copy matches the source: {} runs, {} entries",
            verification.destination.runs, verification.destination.entries
        );
    }
    Ok(0)
}

fn fail_on_differences(verification: &Verification) -> anyhow::Result<()> {
    let Some(first) = verification.differences.first() else {
        return Ok(());
    };
    for d in &verification.differences {
        match &d.run {
            Some(run) => eprintln!("relive: run {run} differs: {}", d.what),
            None => eprintln!("relive: {}", d.what),
        }
    }
    let what = match &first.run {
        Some(run) => format!("run {run}: {}", first.what),
        None => first.what.clone(),
    };
    let more = verification.differences.len() - 1;
    bail!(
        "the destination differs from the source: {what}{}; was a relive process writing into either journal? Stop it, delete the destination and copy again",
        if more > 0 {
            format!(" (and {more} more differences, listed above)")
        } else {
            String::new()
        }
    )
}

/// Progress lines on stderr, at most one a second, and the last one.
struct Progress {
    verb: &'static str,
    quiet: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new(verb: &'static str, quiet: bool) -> Progress {
        Progress {
            verb,
            quiet,
            last: None,
        }
    }

    fn show(&mut self, n: usize, total: usize) {
        self.show_side("", n, total);
    }

    fn show_side(&mut self, side: &str, n: usize, total: usize) {
        let due = self.last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if self.quiet || !(due || n == total) {
            return;
        }
        self.last = Some(Instant::now());
        let side = if side.is_empty() {
            String::new()
        } else {
            format!(" in the {side}")
        };
        eprintln!("relive: {} {n}/{total} runs{side}", self.verb);
    }
}
