//! g. Fan-out: a `tree` run that spawns 100 child runs and joins them,
//! against one that calls the same 100 children one after the other, and a
//! single run on its own (the floor: one run's own cost). All three through
//! the real `relive run`, which executes a tree of runs in one process, on a
//! new journal each time.

use crate::Outcome;
use crate::report::{Figure, Unit};
use crate::setup::{Bench, ms, relive};
use anyhow::{Context as _, ensure};
use std::path::Path;
use std::time::Instant;

/// Children per run.
const CHILDREN: usize = 100;

pub fn run(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let bin = bench.relive_binary()?;
    let wasm = build_tree(&bench.root)?;
    let config = bench.scratch("fanout.toml");
    std::fs::write(
        &config,
        format!(
            "[agents.tree]\ncomponent = \"{}\"\nagents = [\"tree\"]\n",
            wasm.display()
        ),
    )?;
    // Warm the compile cache.
    run_tree(bench, &bin, &config, "echo warm")?;
    let mut single = Vec::new();
    let mut fanout = Vec::new();
    let mut sequential = Vec::new();
    for _ in 0..bench.reps {
        single.push(run_tree(bench, &bin, &config, "echo x")?);
        fanout.push(run_tree(
            bench,
            &bin,
            &config,
            &format!("fanout tree {CHILDREN} echo x"),
        )?);
        sequential.push(run_tree(
            bench,
            &bin,
            &config,
            &format!("seq tree {CHILDREN} echo x"),
        )?);
    }
    let floor = Figure::floor(
        "fanout.single_run",
        "one run on its own (`relive run`, a new journal)",
        Unit::Ms,
        single,
    );
    let fan = Figure::relive(
        "fanout.spawn_join_100",
        "100 children spawned at once, then joined",
        Unit::Ms,
        fanout,
    )
    .versus(&floor, "against one run");
    let seq = Figure::relive(
        "fanout.sequential_100",
        "100 children called one after the other",
        Unit::Ms,
        sequential,
    )
    .versus(&floor, "against one run");
    let notes = vec![format!(
        "per child: {:.2} ms fanned out, {:.2} ms one after the other (the difference from one run, / {CHILDREN})",
        (fan.value - floor.value) / CHILDREN as f64,
        (seq.value - floor.value) / CHILDREN as f64
    )];
    Ok(Outcome::Measured {
        figures: vec![floor, fan, seq],
        notes,
    })
}

/// Wall time of `relive run tree --input INPUT` on a new journal, in ms.
fn run_tree(bench: &mut Bench, bin: &Path, config: &Path, input: &str) -> anyhow::Result<f64> {
    let db = bench.scratch("fanout.db");
    let begun = Instant::now();
    let out = relive(bin)
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(&db)
        .args(["run", "tree", "--quiet", "--json", "--input", input])
        .output()
        .context("cannot run relive")?;
    let took = ms(begun.elapsed());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "relive printed no report: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    ensure!(report["status"] == "completed", "{input}: {report}");
    Ok(took)
}

/// Builds the `tree` guest (tests/guests/tree) beside the bench's own.
fn build_tree(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let target_dir = root.join("target/bench-guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "tree",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .context("cannot run cargo to build the tree guest")?;
    ensure!(status.success(), "building the `tree` guest failed");
    Ok(target_dir.join("wasm32-wasip2/release/tree.wasm"))
}
