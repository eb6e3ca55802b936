//! Operators' answers to runs that wait: approvals, rejections, signals,
//! and decisions about calls left uncertain by a crash.

use super::Cli;
use super::commands::open_journal;
use crate::config::Config;
use crate::journal::{EntryState, Journal, Resolution, ResolveRequest, RunStatus, now_ms};
use crate::tools::ToolError;
use anyhow::{anyhow, bail};

/// Who answers: `--by`, else $USER, else "operator".
pub(super) fn who(by: Option<&str>) -> String {
    by.map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "operator".into())
}

/// Records the answer to what a suspended run waits for (an approval or a
/// signal); refuses a run that is not waiting for that, and a second answer.
pub(super) fn answer_wait(
    cli: &Cli,
    run: &str,
    kind: crate::journal::EntryKind,
    signal: Option<&str>,
    answer: serde_json::Value,
    verb: &str,
) -> anyhow::Result<u8> {
    let config = Config::load(cli.config.as_deref())?;
    let journal = open_journal(cli.db.as_deref(), &config, false)?;
    let (record, waiting) = crate::control::answers::answer(&*journal, run, kind, signal, answer)?;
    let id = &record.id;
    eprintln!(
        "relive: {verb} ({waiting}, entry #{}); continue with `relive resume {id}` (a running `relive serve` continues it by itself)",
        waiting.seq
    );
    Ok(0)
}

pub(super) fn resolve(
    journal: &dyn Journal,
    run: &str,
    retry: bool,
    result: Option<&str>,
    fail: bool,
    reason: Option<&str>,
) -> anyhow::Result<u8> {
    let record = journal.find_run(run)?;
    if record.status != RunStatus::Uncertain {
        bail!(
            "run {} is {}, not uncertain: there is nothing to resolve",
            record.id,
            record.status
        );
    }
    let entries = journal.entries(&record.id)?;
    let entry = entries
        .last()
        .filter(|e| e.state == EntryState::Started)
        .ok_or_else(|| anyhow!("run {} has no interrupted entry", record.id))?;
    if entry.resolution.is_some() {
        bail!(
            "entry #{} of run {} is already resolved; continue with `relive resume {}`",
            entry.seq,
            record.id,
            record.id
        );
    }
    let at_ms = now_ms();
    let id = &record.id;
    let (resolution, response, error) = if retry {
        (Resolution::Retry { at_ms }, None, None)
    } else if let Some(json) = result {
        serde_json::from_str::<serde_json::Value>(json)
            .map_err(|e| anyhow!("--result is not valid JSON: {e}"))?;
        let response =
            serde_json::to_string(&Ok::<String, ToolError>(json.to_string())).expect("serialises");
        (Resolution::Result { at_ms }, Some(response), None)
    } else if fail {
        let error = format!(
            "failed by an operator: entry #{} ({} `{}`) was interrupted{}",
            entry.seq,
            entry.kind,
            entry.name,
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        (Resolution::Fail { at_ms }, None, Some(error))
    } else {
        bail!("say what to do: --retry, --result JSON or --fail");
    };
    // The decision and the run's new status are one transaction, which
    // checks again that the run is uncertain and the entry unresolved.
    journal
        .resolve(ResolveRequest {
            run_id: id.clone(),
            seq: entry.seq,
            resolution: resolution.clone(),
            response,
            error,
        })
        .wait_blocking()?;
    match resolution {
        Resolution::Retry { .. } => eprintln!(
            "relive: entry #{} ({} `{}`) will run again; continue with `relive resume {id}`",
            entry.seq, entry.kind, entry.name
        ),
        Resolution::Result { .. } => eprintln!(
            "relive: entry #{} ({} `{}`) recorded with the given result; continue with `relive resume {id}`",
            entry.seq, entry.kind, entry.name
        ),
        Resolution::Fail { .. } => eprintln!("relive: run {id} marked failed"),
    }
    Ok(0)
}
