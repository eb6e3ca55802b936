//! Replay tests for agent authors: prove that a new build of an agent still
//! replays every recorded run (DESIGN §8) — the equivalent of Temporal's
//! Replayer, for Wasm agents.
//!
//! Keep recorded journals as fixtures next to the agent (`fixtures/*.jsonl`,
//! written by `relive export RUN -o fixtures/NAME.jsonl`) and replay them
//! all from a test:
//!
//! ```no_run
//! #[test]
//! fn recorded_runs_still_replay() {
//!     let agent = relive::testing::build_agent("my-agent");
//!     let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
//!     relive::testing::replay_dir(&agent, &fixtures).unwrap();
//! }
//! ```
//!
//! A replay calls nothing live: no LLM, no tool, no clock. It passes when
//! every call the agent makes matches the journal and the output is the one
//! recorded; otherwise the error names each failing fixture with its first
//! divergence. Monotonic clock reads are matched by order only (a
//! JavaScript engine makes them on its own; see `engine::monotonic`).

use crate::journal::export::{self, JournalFile};
use crate::journal::{OpenOptions, RunStatus};
use crate::runtime::{Outcome, RunReport, Runtime};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Replays `file` against the component `bytes` (read from `path`).
pub fn replay(path: &str, bytes: &[u8], file: &JournalFile) -> anyhow::Result<RunReport> {
    Replayer::new()?.replay(path, bytes, file)
}

/// Replays many journals with one runtime: a component is compiled once,
/// however many journals of it are replayed.
pub struct Replayer {
    runtime: Option<Runtime>,
    tokio: tokio::runtime::Runtime,
    scratch: PathBuf,
}

impl Replayer {
    pub fn new() -> anyhow::Result<Replayer> {
        // Replay never writes: a throwaway journal satisfies the runtime.
        let scratch = std::env::temp_dir().join(format!(
            "relive-replay-{}-{}.db",
            std::process::id(),
            crate::journal::new_run_id()
        ));
        let journal = crate::journal::open(
            &scratch,
            OpenOptions {
                create: true,
                ..OpenOptions::default()
            },
        )?;
        Ok(Replayer {
            runtime: Some(Runtime::new(journal)?),
            tokio: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?,
            scratch,
        })
    }

    /// Replays `file` against the component `bytes` (read from `path`).
    pub fn replay(
        &self,
        path: &str,
        bytes: &[u8],
        file: &JournalFile,
    ) -> anyhow::Result<RunReport> {
        let runtime = self.runtime.as_ref().expect("until dropped");
        self.tokio.block_on(runtime.replay(path, bytes, file))
    }
}

impl Drop for Replayer {
    fn drop(&mut self) {
        drop(self.runtime.take());
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.scratch.display()));
        }
    }
}

/// Whether `report` is a pass for the recorded `file`: the same output, or
/// the same failure.
pub fn passed(report: &RunReport, file: &JournalFile) -> bool {
    match &report.outcome {
        Outcome::Completed { .. } => true,
        Outcome::Failed { error } => {
            file.run.status == RunStatus::Failed && file.run.error.as_deref() == Some(error)
        }
        _ => false,
    }
}

/// What went wrong, in words, when `report` did not pass.
pub fn explain(report: &RunReport) -> String {
    match &report.outcome {
        Outcome::Diverged(d) => d.to_string(),
        Outcome::Failed { error } => error.clone(),
        Outcome::Suspended(w) => format!("the replay stopped waiting for {w}"),
        Outcome::Uncertain { message, .. } => message.clone(),
        Outcome::Completed { output } => format!("completed with {output}"),
        Outcome::Interrupted => "the replay was interrupted".to_string(),
    }
}

/// Replays one journal file against the component at `component`.
pub fn replay_file(component: &Path, journal: &Path) -> Result<(), String> {
    let bytes = std::fs::read(component)
        .map_err(|e| format!("cannot read component {}: {e}", component.display()))?;
    let reader = std::fs::File::open(journal)
        .map_err(|e| format!("cannot read journal file {}: {e}", journal.display()))?;
    let file = export::read(&mut std::io::BufReader::new(reader))
        .map_err(|e| format!("journal file {}: {e}", journal.display()))?;
    let report = replay(&component.display().to_string(), &bytes, &file)
        .map_err(|e| format!("{}: {e:#}", journal.display()))?;
    if passed(&report, &file) {
        Ok(())
    } else {
        Err(format!("{}: {}", journal.display(), explain(&report)))
    }
}

/// Replays every `*.jsonl` file in `dir`; returns how many passed, or every
/// failure (not just the first).
pub fn replay_dir(component: &Path, dir: &Path) -> Result<usize, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read fixtures folder {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "no *.jsonl fixtures in {}; record one with `relive export RUN -o {}/NAME.jsonl`",
            dir.display(),
            dir.display()
        ));
    }
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| replay_file(component, f).err())
        .collect();
    if failures.is_empty() {
        Ok(files.len())
    } else {
        Err(format!(
            "{} of {} recorded runs do not replay:\n\n{}",
            failures.len(),
            files.len(),
            failures.join("\n\n")
        ))
    }
}

/// Builds the agent `package` of the current workspace for wasm32-wasip2
/// (release) and returns the path of its component.
///
/// # Panics
///
/// When the build fails (the message says how to install the target).
pub fn build_agent(package: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json",
            "-p",
            package,
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "building {package} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact" && m["target"]["name"] == package.replace('-', "_")
        })
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .find(|f| f.extension().is_some_and(|x| x == "wasm"))
        .unwrap_or_else(|| panic!("cargo built no .wasm for {package}"))
}
