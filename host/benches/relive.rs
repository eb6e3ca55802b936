//! The relive benchmark (DESIGN §9): every figure next to the raw floor
//! measured in the same run on the same machine, with its target and
//! whether it is met.
//!
//! ```sh
//! cargo bench -p relive-host --bench relive                # the table
//! cargo bench -p relive-host --bench relive -- --json      # one JSON document
//! cargo bench -p relive-host --bench relive -- step crash  # some sections (key or letter)
//! cargo bench -p relive-host --bench relive -- --reps 3    # repetitions (default 7)
//! ```
//!
//! Sections: a `local` (journaled clock / random read), b `step` (durable
//! tool step at both fsync levels), c `replay` (10,000 entries), d `crash`
//! (SIGKILL at step 500 of 1,000, then `relive resume`), e `start`
//! (component compile, cached start, instantiate), f `serve` (1,000 runs
//! through `relive serve`, active and suspended), g `fanout` (100 child
//! runs spawned and joined, against 100 called in turn), h `postgres` (the
//! durable step on PostgreSQL beside SQLite, and `relive serve` with 1, 2
//! and 3 processes sharing one PostgreSQL; skipped without PostgreSQL's
//! server binaries).
//! Each figure is the median of its repetitions.
//!
//! The workload is the `steps` guest (tests/guests/steps) with the config of
//! bench/steps.toml, built here like the end-to-end tests build their guests.
//! Everything the run writes (journals, workspaces, compile caches) goes to
//! a temporary directory: the benchmark runs itself again as a child with
//! `RELIVE_BENCH_DIR` and `RELIVE_CACHE_DIR` pointing there. To profile one
//! section, set both and run the bench binary directly, e.g.
//! `RELIVE_BENCH_DIR=$(mktemp -d) RELIVE_CACHE_DIR=... valgrind
//! --tool=callgrind target/release/deps/relive-HASH step --reps 1`.

// The parts live in benches/relive/ (this file is the crate root, so the
// paths are spelt out).
#[path = "relive/floors.rs"]
mod floors;
#[path = "relive/report.rs"]
mod report;
#[path = "relive/sections/mod.rs"]
mod sections;
#[path = "relive/setup.rs"]
mod setup;

use report::{Figure, SectionReport, Status};
use setup::Bench;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What a section's measurement gives.
pub enum Outcome {
    Measured {
        figures: Vec<Figure>,
        notes: Vec<String>,
    },
    /// A placeholder: the section exists but measures nothing yet.
    NotMeasured(String),
}

/// One section of the benchmark. A new section is a file under
/// `relive/sections/` and one entry in [`SECTIONS`].
struct Section {
    letter: &'static str,
    /// Selects the section on the command line; prefixes JSON ids.
    key: &'static str,
    title: &'static str,
    run: fn(&mut Bench) -> anyhow::Result<Outcome>,
}

const SECTIONS: &[Section] = &[
    Section {
        letter: "a",
        key: "local",
        title: "journaled local host call (clock, random)",
        run: sections::local::run,
    },
    Section {
        letter: "b",
        key: "step",
        title: "durable step: a tool call committed before the guest sees it",
        run: sections::steps::run,
    },
    Section {
        letter: "c",
        key: "replay",
        title: "replay speed: a 10,000-entry journal",
        run: sections::replay::run,
    },
    Section {
        letter: "d",
        key: "crash",
        title: "crash to resumed: SIGKILL at step 500 of 1,000, then `relive resume`",
        run: sections::crash::run,
    },
    Section {
        letter: "e",
        key: "start",
        title: "component start",
        run: sections::start::run,
    },
    Section {
        letter: "f",
        key: "serve",
        title: "serve: 1,000 concurrent runs through the HTTP API",
        run: sections::serve::run,
    },
    Section {
        letter: "g",
        key: "fanout",
        title: "fan-out: 100 child runs spawned and joined, against 100 called in turn",
        run: sections::fanout::run,
    },
    Section {
        letter: "h",
        key: "postgres",
        title: "PostgreSQL beside SQLite: the durable step, and serve with 1, 2 and 3 processes",
        run: sections::postgres::run,
    },
];

/// Parsed command line.
struct Args {
    json: bool,
    reps: usize,
    only: Vec<String>,
    /// `--workload KIND STEPS [FSYNC]`: only run the workload, for profilers.
    workload: Option<(String, u64, String)>,
}

const USAGE: &str =
    "usage: cargo bench -p relive-host --bench relive [-- [--json] [--reps N] [SECTION...]]
sections: a local, b step, c replay, d crash, e start, f serve, g fanout, h postgres (all by default)
for profilers: [-- --workload tool|clock|random STEPS [critical|every-entry]] runs the
`steps` agent once (after one warm-up run) through the library API and nothing else";

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        json: false,
        reps: 7,
        only: Vec::new(),
        workload: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => parsed.json = true,
            // Passed by `cargo bench` to every bench target.
            "--bench" => {}
            "--reps" => {
                parsed.reps = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--reps takes a number of repetitions, at least 1")?;
            }
            "--workload" => {
                let kind = it.next().ok_or(USAGE)?.clone();
                let steps = it.next().and_then(|n| n.parse().ok()).ok_or(USAGE)?;
                let fsync = match it.clone().next().map(String::as_str) {
                    Some(f @ ("critical" | "every-entry")) => {
                        it.next();
                        f.to_string()
                    }
                    _ => "critical".to_string(),
                };
                parsed.workload = Some((kind, steps, fsync));
            }
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option `{flag}`\n{USAGE}"));
            }
            section => {
                if !SECTIONS
                    .iter()
                    .any(|s| s.key == section || s.letter == section)
                {
                    return Err(format!("unknown section `{section}`\n{USAGE}"));
                }
                parsed.only.push(section.to_string());
            }
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--start-child") {
        return match sections::start::child_main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("start child: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let parsed = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let result = match std::env::var_os("RELIVE_BENCH_DIR") {
        None => in_scratch_dir(&args),
        Some(dir) => bench(&parsed, PathBuf::from(dir)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("relive bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark again as a child whose journals, workspaces and
/// compile caches go to a temporary directory, removed afterwards.
fn in_scratch_dir(args: &[String]) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new().prefix("relive-bench-").tempdir()?;
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .env("RELIVE_BENCH_DIR", dir.path())
        .env("RELIVE_CACHE_DIR", dir.path().join("cache"))
        .status()?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

fn bench(args: &Args, dir: PathBuf) -> anyhow::Result<ExitCode> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf();
    std::fs::create_dir_all(&dir)?;
    if !args.json {
        eprintln!("relive bench: building the `steps` guest…");
    }
    let mut bench = Bench::new(root.clone(), dir, args.reps)?;
    if let Some((kind, steps, fsync)) = &args.workload {
        return workload(&mut bench, kind, *steps, fsync);
    }
    let begun = std::time::Instant::now();
    let mut reports = Vec::new();
    for section in SECTIONS {
        if !args.only.is_empty()
            && !args
                .only
                .iter()
                .any(|o| o == section.key || o == section.letter)
        {
            continue;
        }
        if !args.json {
            eprintln!("relive bench: {}. {}…", section.letter, section.title);
        }
        let (status, figures, notes) = match (section.run)(&mut bench) {
            Ok(Outcome::Measured { figures, notes }) => (Status::Measured, figures, notes),
            Ok(Outcome::NotMeasured(why)) => (Status::NotMeasured(why), Vec::new(), Vec::new()),
            Err(e) => (Status::Failed(format!("{e:#}")), Vec::new(), Vec::new()),
        };
        reports.push(SectionReport {
            letter: section.letter,
            key: section.key,
            title: section.title,
            status,
            figures,
            notes,
        });
    }
    let seconds = begun.elapsed().as_secs_f64();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let commit = git_commit(&root);
    let optimised = !cfg!(debug_assertions);
    if args.json {
        let context = serde_json::json!({
            "reps": args.reps,
            "cpus": cpus,
            "commit": commit,
            "optimised": optimised,
            "seconds": seconds,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report::to_json(context, &reports))?
        );
    } else {
        let header = format!(
            "relive benchmark (DESIGN §9) — {} build, {cpus} CPUs, commit {commit}, median of {} repetitions, {seconds:.0} s",
            if optimised {
                "optimised"
            } else {
                "UNOPTIMISED"
            },
            args.reps
        );
        report::print_table(&header, &reports);
        let targets: Vec<bool> = reports
            .iter()
            .flat_map(|r| &r.figures)
            .filter_map(|f| f.target.as_ref().and_then(|t| t.met))
            .collect();
        println!();
        println!(
            "targets met: {} of {}",
            targets.iter().filter(|m| **m).count(),
            targets.len()
        );
    }
    let failed = reports
        .iter()
        .any(|r| matches!(r.status, Status::Failed(_)));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the workload alone, for a profiler: one warm-up run, then one timed.
fn workload(bench: &mut Bench, kind: &str, steps: u64, fsync: &str) -> anyhow::Result<ExitCode> {
    let policy = match fsync {
        "every-entry" => relive::config::FsyncPolicy::EveryEntry,
        _ => relive::config::FsyncPolicy::Critical,
    };
    let (runtime, config) = bench.runtime("workload", policy)?;
    bench.start(&runtime, &config, setup::input(steps.min(100), kind))?;
    let (took, _) = bench.start(&runtime, &config, setup::input(steps, kind))?;
    println!(
        "{steps} steps of kind {kind} ({fsync}): {:.1} ms, {:.2} µs per step",
        setup::ms(took),
        setup::us(took) / steps.max(1) as f64
    );
    Ok(ExitCode::SUCCESS)
}

/// The checked-out commit, `+dirty` when the tree has changes.
fn git_commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    match git(&["status", "--porcelain"]) {
        Some(s) if !s.is_empty() => format!("{commit}+dirty"),
        _ => commit,
    }
}
