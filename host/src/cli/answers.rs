//! Operators' decisions from the command line: approvals, rejections,
//! signals, decisions about uncertain calls, cancels. Each is one journal
//! transaction (see `control::answers`); these functions parse and print.

use super::commands::open_journal;
use super::{ApproveArgs, CancelArgs, Cli, RejectArgs, ResolveArgs, SignalArgs};
use crate::config::Config;
use crate::control::answers::{self as control, Decision};
use crate::journal::{ApprovalAnswer, Journal, RunRecord, SignalAnswer, Waiting, now_ms};
use anyhow::anyhow;
use std::sync::Arc;

/// Who answers: `--by`, else $USER, else "operator".
fn who(by: Option<&str>) -> String {
    by.map(str::to_string)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "operator".into())
}

fn journal_of(cli: &Cli) -> anyhow::Result<Arc<dyn Journal>> {
    let config = Config::load(cli.config.as_deref())?;
    open_journal(cli.db.as_deref(), &config, false)
}

/// Says what was recorded and how the run goes on.
fn answered(verb: &str, record: &RunRecord, waiting: &Waiting) -> u8 {
    let id = &record.id;
    eprintln!(
        "relive: {verb} ({waiting}, entry #{}); continue with `relive resume {id}` (a running `relive serve` continues it by itself)",
        waiting.seq
    );
    0
}

pub(super) fn approve(cli: &Cli, args: &ApproveArgs) -> anyhow::Result<u8> {
    let answer = ApprovalAnswer::Approved {
        details: args.details.clone(),
        note: args.note.clone(),
        by: Some(who(args.by.as_deref())),
        at_ms: Some(now_ms()),
    };
    let (record, waiting) = control::decide(&*journal_of(cli)?, &args.run, &answer)?;
    Ok(answered("approved", &record, &waiting))
}

pub(super) fn reject(cli: &Cli, args: &RejectArgs) -> anyhow::Result<u8> {
    let answer = ApprovalAnswer::Rejected {
        reason: args.reason.clone(),
        by: Some(who(args.by.as_deref())),
        at_ms: Some(now_ms()),
    };
    let (record, waiting) = control::decide(&*journal_of(cli)?, &args.run, &answer)?;
    Ok(answered("rejected", &record, &waiting))
}

pub(super) fn signal(cli: &Cli, args: &SignalArgs) -> anyhow::Result<u8> {
    if let Some(data) = &args.data {
        serde_json::from_str::<serde_json::Value>(data)
            .map_err(|e| anyhow!("--data is not valid JSON: {e}"))?;
    }
    let answer = SignalAnswer {
        payload: args.data.clone(),
        timed_out: false,
        by: Some(who(args.by.as_deref())),
        at_ms: Some(now_ms()),
    };
    let (record, waiting) = control::signal(&*journal_of(cli)?, &args.run, &args.name, &answer)?;
    Ok(answered("delivered", &record, &waiting))
}

pub(super) fn resolve(cli: &Cli, args: &ResolveArgs) -> anyhow::Result<u8> {
    let decision = if args.retry {
        Decision::Retry
    } else if let Some(json) = &args.result {
        Decision::Result(json.clone())
    } else if args.fail {
        Decision::Fail {
            reason: args.reason.clone(),
        }
    } else {
        anyhow::bail!("say what to do: --retry, --result JSON or --fail");
    };
    let (record, entry) = control::resolve(&*journal_of(cli)?, &args.run, &decision)?;
    let id = &record.id;
    let call = format!("entry #{} ({} `{}`)", entry.seq, entry.kind, entry.name);
    match decision {
        Decision::Retry => {
            eprintln!("relive: {call} will run again; continue with `relive resume {id}`")
        }
        Decision::Result(_) => eprintln!(
            "relive: {call} recorded with the given result; continue with `relive resume {id}`"
        ),
        Decision::Fail { .. } => eprintln!("relive: run {id} marked failed"),
    }
    Ok(0)
}

/// How long `relive cancel` waits for the process executing a run to
/// cancel it.
const OWNER_CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn cancel(cli: &Cli, args: &CancelArgs) -> anyhow::Result<u8> {
    let journal = journal_of(cli)?;
    let reason = args.reason.as_deref();
    // A run another `relive serve` executes (on any host sharing a
    // PostgreSQL journal) is cancelled by that process.
    if control::ask_owner_to_cancel(&*journal, &args.run, reason, OWNER_CANCEL_WAIT)? {
        eprintln!(
            "relive: run {} cancelled by the relive process that executes it",
            args.run
        );
        return Ok(0);
    }
    let cancelled = control::cancel_tree(&*journal, &args.run, reason, None)?;
    match cancelled.as_slice() {
        [run] => eprintln!("relive: run {run} cancelled"),
        [run, children @ ..] => eprintln!(
            "relive: run {run} cancelled, with its child runs {}",
            children.join(", ")
        ),
        [] => {}
    }
    Ok(0)
}
