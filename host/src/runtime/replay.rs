//! Replays that call nothing live: a journal file against a component
//! (`relive replay`, replay tests), and the check an upgrade needs.

use super::{Execution, Outcome, RunReport, Runtime};
use crate::engine::Mode;
use crate::imports::{Grants, RunPolicy};
use crate::journal::export::JournalFile;
use crate::journal::{RunRecord, RunStatus};

impl Runtime {
    pub async fn replay(
        &self,
        path: &str,
        bytes: &[u8],
        file: &JournalFile,
    ) -> anyhow::Result<RunReport> {
        // Compiled once per runtime: a test replaying many journals of one
        // agent compiles it once.
        let pre = self.prepared(
            &crate::journal::component_digest(bytes),
            path,
            bytes,
            crate::config::Limits::defaults(&file.run.agent).max_component_bytes,
        )?;
        let mut report = self
            .run_store(
                &file.run.id,
                None,
                &file.run.input,
                &pre,
                file.entries.clone(),
                Execution {
                    grants: replay_grants(&file.run),
                    observer: None,
                    mode: Mode::ReplayOnly,
                    config: None,
                    tolerate_monotonic: true,
                },
            )
            .await?;
        if let Outcome::Completed { output } = &report.outcome {
            let recorded = file.run.output.as_deref().unwrap_or("");
            if file.run.status == RunStatus::Completed && recorded != output {
                report.outcome = Outcome::Failed {
                    error: format!(
                        "every call matched, but the output differs:\n  recorded: {recorded}\n  replayed: {output}"
                    ),
                };
            } else if file.run.status == RunStatus::Failed {
                // A failed run passes only if it fails the same way.
                report.outcome = Outcome::Failed {
                    error: format!(
                        "the recorded run failed, but the replay completed:\n  recorded error: {}\n  replayed output: {output}",
                        file.run.error.as_deref().unwrap_or("")
                    ),
                };
            }
        }
        Ok(report)
    }

    /// Checks that `bytes` replays the journal of `run` cleanly, as an
    /// upgrade requires: every recorded call matches, up to the end of the
    /// recorded answers (or the wait the run is suspended on). Returns the
    /// reason when it does not.
    pub async fn check_upgrade(
        &self,
        path: &str,
        bytes: &[u8],
        run: &RunRecord,
    ) -> anyhow::Result<Result<(), String>> {
        let pre = self.load(
            path,
            bytes,
            crate::config::Limits::defaults(&run.agent).max_component_bytes,
        )?;
        let entries = self.journal.entries(&run.id)?;
        let exec = Execution {
            grants: replay_grants(run),
            observer: None,
            mode: Mode::ReplayOnly,
            config: None,
            // The run continues live after the upgrade: positions stay exact.
            tolerate_monotonic: false,
        };
        let report = self
            .run_store(&run.id, None, &run.input, &pre, entries, exec)
            .await?;
        Ok(match report.outcome {
            Outcome::Diverged(d) if d.expected.is_none() => Ok(()),
            Outcome::Suspended(_) | Outcome::Uncertain { .. } | Outcome::Completed { .. } => Ok(()),
            Outcome::Diverged(d) => Err(d.to_string()),
            Outcome::Failed { error } => {
                Err(format!("the new component failed while replaying: {error}"))
            }
            Outcome::Interrupted => Err("the check was interrupted".to_string()),
        })
    }
}

/// What a replay-only execution of `run` gets: nothing live, the run's own
/// policy (its approvals and limits) when it recorded one.
fn replay_grants(run: &RunRecord) -> Grants {
    let grants = Grants::none(&run.agent);
    match RunPolicy::from_record(run.policy.as_ref()) {
        Some(policy) => grants.with_policy(policy),
        None => grants,
    }
}
