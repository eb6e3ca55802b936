//! d. Crash to resumed: the real `relive` binary runs 1,000 steps, is
//! killed with SIGKILL at step 500, and a new `relive resume` process
//! finishes the run. Reported: the new process's wall time, and that time
//! minus what the remaining steps cost on their own (the per-step cost of
//! section b, or measured here when b did not run).

use crate::Outcome;
use crate::report::{Figure, Unit};
use crate::setup::{Bench, input, ms, relive};
use anyhow::{Context as _, bail, ensure};
use relive::config::FsyncPolicy;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STEPS: u64 = 1_000;
const KILL_AT: u64 = 500;

pub fn run(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let bin = bench.relive_binary()?;
    let warm_db = bench.scratch("crash-warm.db");
    // bench/steps.toml with the bench's paths, as a file for the binary.
    let config = bench
        .config("crash", FsyncPolicy::Critical, &warm_db)?
        .source
        .context("the bench config has a file")?;

    // The binary works with bench/steps.toml's interface, and its compile
    // cache is warm before anything is timed.
    let (out, _) = relive_run(&bin, &config, &warm_db, 10)?;
    ensure!(out["status"] == "completed", "warm-up run: {out}");
    // An uninterrupted run: the output every resumed run must reproduce.
    let clean_db = bench.scratch("crash-clean.db");
    let (out, clean) = relive_run(&bin, &config, &clean_db, STEPS)?;
    ensure!(out["status"] == "completed", "uninterrupted run: {out}");
    let expected = out["output"].clone();

    time_process(relive(&bin).arg("--version"))?;
    let mut start = Vec::new();
    for _ in 0..bench.reps {
        start.push(ms(time_process(relive(&bin).arg("--version"))?));
    }

    let step_us = match bench.recall("step.critical") {
        Some(us) => us,
        None => {
            let (runtime, cfg) = bench.runtime("crash-steps", FsyncPolicy::Critical)?;
            crate::report::median(&bench.per_step_us(&runtime, &cfg, "tool", 100, 600)?)
        }
    };

    let mut resumed = Vec::new();
    let mut overhead = Vec::new();
    let mut remaining_cost = Vec::new();
    let mut killed_at = Vec::new();
    for rep in 0..bench.reps {
        let db = bench.scratch(&format!("crash-{rep}.db"));
        let mut child = relive(&bin)
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .args(["run", "steps", "--quiet", "--json", "--input"])
            .arg(input(STEPS, "tool"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let run_id = wait_for_steps(&db, KILL_AT, &mut child)?;
        child.kill()?; // SIGKILL
        child.wait()?;
        let done = completed_steps(&db, &run_id)?;
        ensure!(done < STEPS, "the run finished before it was killed");

        let begun = Instant::now();
        let out = output_within(
            relive(&bin)
                .arg("--db")
                .arg(&db)
                .args(["resume", &run_id, "--quiet", "--json"]),
            Duration::from_secs(60),
        )?;
        let took = ms(begun.elapsed());
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "relive resume printed no JSON: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        ensure!(report["status"] == "completed", "resume: {report}");
        ensure!(
            report["output"] == expected,
            "the resumed run's output differs from an uninterrupted run's"
        );
        let rest = (STEPS - done) as f64 * step_us / 1000.0;
        resumed.push(took);
        remaining_cost.push(rest);
        overhead.push(took - rest);
        killed_at.push(done);
    }

    let start = Figure::floor(
        "crash.process_start",
        "start and exit of the relive process (`relive --version`)",
        Unit::Ms,
        start,
    );
    let overhead = Figure::relive(
        "crash.overhead",
        "kill at 500/1,000 → finished, minus remaining steps",
        Unit::Ms,
        overhead,
    )
    .below(100.0, "< 100 ms + remaining steps");
    let resumed = Figure::detail(
        "crash.resume",
        "`relive resume` process, start to exit",
        Unit::Ms,
        resumed,
    );
    let remaining = Figure::detail(
        "crash.remaining_steps",
        "  of which the remaining steps (count × step of b)",
        Unit::Ms,
        remaining_cost,
    );
    let notes = vec![
        format!(
            "killed after {} completed steps (per repetition: {killed_at:?}); step cost used: {step_us:.0} µs",
            killed_at.iter().min().copied().unwrap_or(0)
        ),
        format!(
            "an uninterrupted `relive run` of 1,000 steps took {:.0} ms (process start to exit)",
            ms(clean)
        ),
        "for scale (DESIGN §9, same kill test): Restate and LangGraph 1.3 s, DBOS 3.3 s, Temporal 11–13 s".into(),
    ];
    Ok(Outcome::Measured {
        figures: vec![start, overhead, resumed, remaining],
        notes,
    })
}

/// Runs `relive run` of `steps` steps to its end; returns its JSON report
/// and wall time.
fn relive_run(
    bin: &Path,
    config: &Path,
    db: &Path,
    steps: u64,
) -> anyhow::Result<(serde_json::Value, Duration)> {
    let begun = Instant::now();
    let out = relive(bin)
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(db)
        .args(["run", "steps", "--quiet", "--json", "--input"])
        .arg(input(steps, "tool"))
        .output()?;
    let took = begun.elapsed();
    let report = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "relive run printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((report, took))
}

/// Runs `cmd` to its end, killing it (and failing) after `limit`.
fn output_within(cmd: &mut Command, limit: Duration) -> anyhow::Result<std::process::Output> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let give_up = Instant::now() + limit;
    while child.try_wait()?.is_none() {
        if Instant::now() > give_up {
            child.kill()?;
            child.wait()?;
            bail!("{cmd:?} did not finish within {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(child.wait_with_output()?)
}

fn time_process(cmd: &mut Command) -> anyhow::Result<Duration> {
    let begun = Instant::now();
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    ensure!(status.success(), "{cmd:?} failed");
    Ok(begun.elapsed())
}

/// Waits until the only run in `db` has completed `steps` steps; returns
/// its id.
fn wait_for_steps(
    db: &Path,
    steps: u64,
    child: &mut std::process::Child,
) -> anyhow::Result<String> {
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut conn: Option<Connection> = None;
    while Instant::now() < give_up {
        if let Some(status) = child.try_wait()? {
            bail!("relive run exited ({status}) before step {steps}");
        }
        if conn.is_none() && db.exists() {
            conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok();
        }
        if let Some(c) = &conn
            && let Ok((id, done)) = c.query_row(
                "SELECT run_id, count(*) FROM entries WHERE state = 'completed' GROUP BY run_id",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            && done as u64 >= steps
        {
            return Ok(id);
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    bail!("relive run did not reach step {steps} within a minute")
}

fn completed_steps(db: &Path, run_id: &str) -> anyhow::Result<u64> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let done: i64 = conn.query_row(
        "SELECT count(*) FROM entries WHERE run_id = ?1 AND state = 'completed'",
        [run_id],
        |r| r.get(0),
    )?;
    Ok(done as u64)
}
