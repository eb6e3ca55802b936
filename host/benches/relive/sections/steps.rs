//! b. A durable step: a tool call whose result is committed before the
//! guest sees it, at relive's two durability levels.
//!
//! The step is the `step` tool of bench/steps.toml — the built-in `files`
//! tool reading 150 bytes back (a ~200-byte result), in-process, so that no
//! process spawn hides relive's own cost. Its own cost, measured by calling
//! the tool directly, is shown and subtracted: the targets hold relive's
//! part of a step against one commit.

use crate::Outcome;
use crate::floors::{RawJournal, Row};
use crate::report::{Figure, Unit};
use crate::setup::{Bench, READ_ARGS, us, write_args};
use relive::config::{Config, FsyncPolicy};
use relive::journal::{
    Completion, Durability, Entry, EntryKind, Fence, Journal, NewRun, component_digest, new_run_id,
};
use relive::tools::ToolContext;
use std::time::Instant;

/// The step's result as relive records it: `Ok` of the tool's JSON text.
pub fn recorded_response() -> String {
    let result = serde_json::json!({
        "path": "step.txt",
        "size": crate::setup::PAYLOAD.len(),
        "content": crate::setup::PAYLOAD,
    })
    .to_string();
    serde_json::json!({ "Ok": result }).to_string()
}

pub fn run(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let response = recorded_response();
    let row = Row {
        kind: "tool",
        name: "step",
        request: READ_ARGS,
        response: &response,
    };
    let mut raw = RawJournal::create(&bench.scratch("raw-commits.db"))?;
    raw.synchronous("NORMAL")?;
    raw.insert_rows(&row, 200, 1)?;
    let mut wal = Vec::new();
    for _ in 0..bench.reps {
        wal.push(raw.insert_rows(&row, 2_000, 1)?);
    }
    raw.synchronous("FULL")?;
    raw.insert_rows(&row, 20, 1)?;
    let mut fsynced = Vec::new();
    for _ in 0..bench.reps {
        fsynced.push(raw.insert_rows(&row, 300, 1)?);
    }
    let wal = Figure::floor(
        "step.wal_commit",
        "SQLite commit of one entry row, WAL, no fsync",
        Unit::Us,
        wal,
    );
    let fsynced = Figure::floor(
        "step.fsync_commit",
        "SQLite commit of one entry row, WAL, fsync",
        Unit::Us,
        fsynced,
    );

    let (critical_rt, critical_cfg) = bench.runtime("step-critical", FsyncPolicy::Critical)?;
    let tool = Figure::detail(
        "step.tool_alone",
        "the `step` tool alone (files read, called directly)",
        Unit::Us,
        tool_alone(bench, &critical_cfg)?,
    );
    let critical = bench.per_step_us(&critical_rt, &critical_cfg, "tool", 100, 1_100)?;
    drop(critical_rt);
    let journal_alone = Figure::detail(
        "step.journal_alone",
        "relive's journal alone: append + commit (no guest, no tool)",
        Unit::Us,
        journal_alone(bench)?,
    )
    .versus(&wal, "vs one WAL commit");
    let (every_rt, every_cfg) = bench.runtime("step-every-entry", FsyncPolicy::EveryEntry)?;
    let every = bench.per_step_us(&every_rt, &every_cfg, "tool", 50, 350)?;
    drop(every_rt);

    let net = |samples: &[f64]| samples.iter().map(|s| s - tool.value).collect::<Vec<_>>();
    let critical_net = Figure::relive(
        "step.critical_net",
        "durable step, default fsync (critical): relive's part",
        Unit::Us,
        net(&critical),
    )
    .within(1.2, &wal, "≤ 1.2× one WAL commit");
    let every_net = Figure::relive(
        "step.every_entry_net",
        "durable step, fsync = \"every-entry\": relive's part",
        Unit::Us,
        net(&every),
    )
    .within(1.2, &fsynced, "≤ 1.2× one fsync'd commit");
    let critical = Figure::detail(
        "step.critical",
        "durable step, default fsync (critical), tool included",
        Unit::Us,
        critical,
    )
    .versus(&wal, "vs one WAL commit");
    let every = Figure::detail(
        "step.every_entry",
        "durable step, fsync = \"every-entry\", tool included",
        Unit::Us,
        every,
    )
    .versus(&fsynced, "vs one fsync'd commit");
    bench.remember("step.critical", critical.value);
    let notes = vec![
        "a step: the guest calls `step`, relive journals the call, runs the tool, commits the result, and only then returns it to the guest".to_string(),
        "relive: wall time of a run of 1,100 (350) steps minus a run of 100 (50), per step; \"relive's part\" subtracts the tool alone".to_string(),
        format!(
            "for scale (DESIGN §9, per step on the same machine): LangGraph+SQLite 980 µs, Restate 1,260 µs, DBOS 1,600–2,300 µs; relive {:.0} µs with the tool",
            critical.value
        ),
    ];
    Ok(Outcome::Measured {
        figures: vec![
            wal,
            fsynced,
            tool,
            critical,
            critical_net,
            journal_alone,
            every,
            every_net,
        ],
        notes,
    })
}

/// A new run (with no lease, of a placeholder component) in `journal`,
/// for writing entries to it directly; returns its id.
pub fn bare_run(journal: &dyn Journal) -> anyhow::Result<String> {
    let digest = component_digest(b"journal-alone");
    journal
        .put_component(&digest, b"journal-alone")
        .wait_blocking()?;
    let run_id = new_run_id();
    journal
        .create_run(NewRun {
            id: run_id.clone(),
            agent: "steps".into(),
            component_digest: digest,
            input: "{}".into(),
            config_path: None,
            policy: None,
            parent: None,
            lease: None,
        })
        .wait_blocking()?;
    Ok(run_id)
}

/// µs per journal write pair of a step, as the replay engine makes it for
/// an idempotent tool (the `started` entry committed before the call leaves
/// the host, then the result committed, each waited for), through
/// the journal with nothing else.
fn journal_alone(bench: &mut Bench) -> anyhow::Result<Vec<f64>> {
    let db = bench.scratch("journal-alone.db");
    let journal = crate::setup::open_journal(&db, FsyncPolicy::Critical)?;
    let run_id = bare_run(&*journal)?;
    let response = recorded_response();
    let steps = 2_000u64;
    bench.rt.block_on(async {
        let mut seq = 0;
        let fence = Fence {
            run_id: run_id.clone(),
            generation: 0,
        };
        let step = async |seq: u64| {
            let entry = Entry::new(seq, EntryKind::Tool, "step", READ_ARGS.to_string());
            journal
                .append(&fence, entry, Durability::Commit)
                .wait()
                .await?;
            journal
                .complete(
                    &fence,
                    seq,
                    Completion {
                        response: response.clone(),
                        ..Completion::default()
                    },
                    Durability::Commit,
                )
                .wait()
                .await
        };
        for _ in 0..200 {
            step(seq).await?;
            seq += 1;
        }
        let mut samples = Vec::new();
        for _ in 0..bench.reps {
            let begun = Instant::now();
            for _ in 0..steps {
                step(seq).await?;
                seq += 1;
            }
            samples.push(us(begun.elapsed()) / steps as f64);
        }
        Ok(samples)
    })
}

/// µs per call of the `step` tool of `config`, called directly (as the
/// host calls it, on the same tokio runtime), one sample per repetition.
fn tool_alone(bench: &Bench, config: &Config) -> anyhow::Result<Vec<f64>> {
    let tool = relive::tools::from_config("step", &config.tools["step"], &config.base_dir);
    let ctx = ToolContext {
        run_id: "benchtool0".into(),
        seq: 0,
        idempotency_key: "relive-benchtool0-0".into(),
        max_result_bytes: relive::config::limits::DEFAULT_MAX_CALL_BYTES as usize,
        used_before: false,
    };
    let calls = 2_000;
    bench.rt.block_on(async {
        tool.call(&ctx, &write_args()).await?;
        for _ in 0..200 {
            tool.call(&ctx, READ_ARGS).await?;
        }
        let mut samples = Vec::new();
        for _ in 0..bench.reps {
            let begun = Instant::now();
            for _ in 0..calls {
                tool.call(&ctx, READ_ARGS).await?;
            }
            samples.push(us(begun.elapsed()) / f64::from(calls));
        }
        Ok(samples)
    })
}
