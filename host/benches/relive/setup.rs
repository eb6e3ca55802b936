//! What every section shares: the workload component, built from source;
//! the scratch directory (journals, workspaces, compile caches); the
//! configuration derived from `bench/steps.toml`; and helpers that run the
//! `steps` agent through relive's library API and time it.

use anyhow::{Context as _, anyhow, bail};
use relive::config::{Config, FsyncPolicy};
use relive::journal::{Journal, OpenOptions, SyncPolicy};
use relive::runtime::{Outcome, RunReport, Runtime, StartRequest};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The agent of `bench/steps.toml`.
pub const AGENT: &str = "steps";

/// The arguments the `steps` guest sends to its `step` tool (see
/// tests/guests/steps/src/lib.rs): step 1 writes, later steps read.
pub const READ_ARGS: &str = r#"{"op":"read","path":"step.txt"}"#;

/// The guest's 150-byte payload, written by step 1.
pub const PAYLOAD: &str = "relive benchmark step payload: 150 bytes of text that every later step reads back, so each durable step returns a result of roughly two hundred bytes.";

/// The input of the `steps` agent.
pub fn input(steps: u64, kind: &str) -> String {
    format!(r#"{{"steps":{steps},"kind":"{kind}"}}"#)
}

/// The `write` arguments of the guest's first step.
pub fn write_args() -> String {
    serde_json::json!({ "op": "write", "path": "step.txt", "content": PAYLOAD }).to_string()
}

/// The shared state of one benchmark run.
pub struct Bench {
    /// The workspace root.
    pub root: PathBuf,
    /// Scratch space; removed when the benchmark ends.
    pub dir: PathBuf,
    /// The `steps` component and its bytes.
    pub wasm: PathBuf,
    pub bytes: Vec<u8>,
    /// A copy of the real `relive` binary, made when first needed.
    relive_bin: Option<PathBuf>,
    /// Repetitions per figure (the median is reported).
    pub reps: usize,
    pub rt: tokio::runtime::Runtime,
    /// Figures one section measured that a later one reuses.
    memo: HashMap<&'static str, f64>,
    next: usize,
}

impl Bench {
    pub fn new(root: PathBuf, dir: PathBuf, reps: usize) -> anyhow::Result<Bench> {
        let wasm = build_guest(&root)?;
        let bytes =
            std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
        // As `relive run` does: a multi-threaded runtime on every core.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        Ok(Bench {
            root,
            dir,
            wasm,
            bytes,
            relive_bin: None,
            reps,
            rt,
            memo: HashMap::new(),
            next: 0,
        })
    }

    /// A new path in the scratch directory.
    pub fn scratch(&mut self, name: &str) -> PathBuf {
        self.next += 1;
        self.dir.join(format!("{:03}-{name}", self.next))
    }

    /// Remembers a figure for later sections.
    pub fn remember(&mut self, key: &'static str, value: f64) {
        self.memo.insert(key, value);
    }

    pub fn recall(&self, key: &str) -> Option<f64> {
        self.memo.get(key).copied()
    }

    /// `bench/steps.toml` with its paths moved into the scratch directory
    /// (journal `db`, the tool's workspaces) and the component pointing at
    /// the one this benchmark built, written to a file of its own.
    pub fn config(&mut self, name: &str, fsync: FsyncPolicy, db: &Path) -> anyhow::Result<Config> {
        let path = self.scratch(&format!("{name}.toml"));
        let workspaces = self.scratch(&format!("{name}-workspaces"));
        let source = self.root.join("bench/steps.toml");
        let text = std::fs::read_to_string(&source)
            .with_context(|| format!("cannot read {}", source.display()))?;
        let mut doc: toml::Table = text
            .parse()
            .with_context(|| format!("{} is not TOML", source.display()))?;
        let fsync = match fsync {
            FsyncPolicy::Critical => "critical",
            FsyncPolicy::EveryEntry => "every-entry",
        };
        set(&mut doc, &["journal", "path"], path_value(db))?;
        set(&mut doc, &["journal", "fsync"], fsync.into())?;
        set(
            &mut doc,
            &["tools", "step", "root"],
            path_value(&workspaces),
        )?;
        set(
            &mut doc,
            &["agents", AGENT, "component"],
            path_value(&self.wasm),
        )?;
        std::fs::write(&path, toml::to_string(&doc)?)?;
        Ok(Config::from_file(&path)?)
    }

    /// A runtime over a new journal, and the configuration to run with.
    pub fn runtime(&mut self, name: &str, fsync: FsyncPolicy) -> anyhow::Result<(Runtime, Config)> {
        let db = self.scratch(&format!("{name}.db"));
        let config = self.config(name, fsync, &db)?;
        let journal = open_journal(&db, fsync)?;
        Ok((Runtime::new(journal)?, config))
    }

    /// A runtime over the journal at `url` (a `postgres://` URL, created
    /// if new), and the configuration to run with.
    pub fn runtime_at(
        &mut self,
        name: &str,
        fsync: FsyncPolicy,
        url: &str,
    ) -> anyhow::Result<(Runtime, Config)> {
        // The runtime writes to `journal`; the config's path is unused.
        let db = self.scratch(&format!("{name}.db"));
        let config = self.config(name, fsync, &db)?;
        let journal = open_journal(relive::journal::Location::parse(url), fsync)?;
        Ok((Runtime::new(journal)?, config))
    }

    /// Starts a run of the agent and waits for its end (the final fsync
    /// included); returns the wall time and the report.
    pub fn start(
        &self,
        runtime: &Runtime,
        config: &Config,
        input: String,
    ) -> anyhow::Result<(Duration, RunReport)> {
        let path = self.wasm.display().to_string();
        let request = StartRequest {
            agent: AGENT,
            path: &path,
            bytes: &self.bytes,
            input,
        };
        let begun = Instant::now();
        let report = self
            .rt
            .block_on(runtime.start(request, config, None, |_| {}))?;
        let elapsed = begun.elapsed();
        completed(&report)?;
        Ok((elapsed, report))
    }

    /// µs per step of `kind`: the difference between runs of `hi` and `lo`
    /// steps, so that what every run costs once (creating it, starting the
    /// component, the final fsync) cancels out. One sample per repetition.
    pub fn per_step_us(
        &self,
        runtime: &Runtime,
        config: &Config,
        kind: &str,
        lo: u64,
        hi: u64,
    ) -> anyhow::Result<Vec<f64>> {
        // Compiles and stores the component, and warms the caches.
        self.start(runtime, config, input(lo.max(1), kind))?;
        let mut samples = Vec::new();
        for rep in 0..self.reps {
            let (short, long) = if rep % 2 == 0 {
                let s = self.start(runtime, config, input(lo, kind))?.0;
                (s, self.start(runtime, config, input(hi, kind))?.0)
            } else {
                let l = self.start(runtime, config, input(hi, kind))?.0;
                (self.start(runtime, config, input(lo, kind))?.0, l)
            };
            samples.push(us(long.saturating_sub(short)) / (hi - lo) as f64);
        }
        Ok(samples)
    }

    /// The real `relive` binary, built by cargo with this bench: a copy in
    /// the scratch directory, because the bench and release profiles share
    /// `target/release/relive`, so a `cargo build --release` running
    /// meanwhile would swap the file under the benchmark.
    pub fn relive_binary(&mut self) -> anyhow::Result<PathBuf> {
        if let Some(bin) = &self.relive_bin {
            return Ok(bin.clone());
        }
        let built = Path::new(env!("CARGO_BIN_EXE_relive"));
        let copy = self.dir.join("relive");
        std::fs::copy(built, &copy)
            .with_context(|| format!("cannot copy {} to {}", built.display(), copy.display()))?;
        self.relive_bin = Some(copy.clone());
        Ok(copy)
    }
}

/// Fails unless the run completed.
pub fn completed(report: &RunReport) -> anyhow::Result<&str> {
    match &report.outcome {
        Outcome::Completed { output } => Ok(output),
        other => bail!("run {} did not complete: {other:?}", report.run_id),
    }
}

fn path_value(path: &Path) -> toml::Value {
    toml::Value::String(path.display().to_string())
}

/// Sets `doc[keys...] = value`; every table on the way must exist.
fn set(doc: &mut toml::Table, keys: &[&str], value: toml::Value) -> anyhow::Result<()> {
    let (last, tables) = keys.split_last().expect("keys are not empty");
    let mut table = doc;
    for key in tables {
        table = table
            .get_mut(*key)
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| anyhow!("bench/steps.toml has no table [{}]", keys.join(".")))?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

/// `relive` (the binary `bin`), without the journal and config variables
/// of the environment; it inherits `RELIVE_CACHE_DIR`, the scratch compile
/// cache.
pub fn relive(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_remove("RELIVE_DB").env_remove("RELIVE_CONFIG");
    cmd
}

/// Microseconds in `d`.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Milliseconds in `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Builds the `steps` guest for wasm32-wasip2 the way the end-to-end tests
/// build theirs (a nested `cargo build --release`), in a target directory
/// of its own so that it never waits on the lock of the build running this
/// bench, nor on anyone else's build in `target/`.
fn build_guest(root: &Path) -> anyhow::Result<PathBuf> {
    let target_dir = root.join("target/bench-guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "steps",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .context("cannot run cargo to build the guest")?;
    if !status.success() {
        bail!(
            "building the `steps` guest failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"
        );
    }
    Ok(target_dir.join("wasm32-wasip2/release/steps.wasm"))
}

/// Opens (creating) the journal at `path` (a file or a `postgres://` URL)
/// with the sync policy that the configuration's `fsync` names, as the CLI
/// does.
pub fn open_journal(
    path: impl Into<relive::journal::Location>,
    fsync: FsyncPolicy,
) -> anyhow::Result<Arc<dyn Journal>> {
    let sync = match fsync {
        FsyncPolicy::Critical => SyncPolicy::Critical,
        FsyncPolicy::EveryEntry => SyncPolicy::EveryEntry,
    };
    Ok(relive::journal::open(
        path,
        OpenOptions { create: true, sync },
    )?)
}
