//! One kill point: a folder with its own journal, relive.toml and tool logs;
//! the run started, killed, resumed (maybe killed again) and resolved until
//! it ends; then every check.

use super::checks::{self, Findings, KillKind, Known, Logs, Snapshot};
use super::llm_server::{API_KEY_VAR, LlmServer};
use super::process::{self, Ended, Trigger};
use super::{Baseline, CALLS_PER_ROUND, MAX_RESUMES, Plan, ROUNDS};
use crate::support::*;
use relive::journal::{EntryKind, EntryState, OpenOptions, RunStatus};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A fault the campaign injects on purpose, to show that its checks catch
/// what they claim to (`campaign_checks_*` tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The operator always answers `--retry`, even when `send`'s log shows
    /// that the interrupted call ran.
    CarelessOperator,
    /// After the first kill the journal loses its last completed LLM entry
    /// and everything after it, as if committed entries were lost.
    LoseCommittedTail,
}

/// What one point did and found.
#[derive(Default)]
pub struct Outcome {
    /// (during a resume, where the kill landed)
    pub kills: Vec<(bool, KillKind)>,
    /// How each `uncertain` was resolved: "result" or "retry".
    pub resolved: Vec<&'static str>,
    pub findings: Findings,
}

/// Where a point's run stands when a process starts: what the next kill
/// time is drawn relative to.
#[derive(Default)]
pub struct Progress {
    pub entries: usize,
    pub requests: usize,
    pub llm_done: usize,
    pub lookups: usize,
    pub lookups_done: usize,
    pub sends: usize,
    pub sends_done: usize,
}

/// A kill point's folder, model URL and process marker.
pub struct Point {
    pub scratch: Scratch,
    /// The LLM server's name for this point.
    pub id: u64,
    mark: String,
    runs: usize,
}

impl Point {
    pub fn new() -> Point {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let scratch = Scratch::copy_of("tests/guests/mixed");
        let config = format!(
            r#"# Written by tests/campaign.rs.
[models.campaign]
provider = "openai"
base_url = "{url}"
model = "campaign-model"
api_key_env = "{API_KEY_VAR}"
stream = false
timeout_secs = 30

[tools.lookup]
command = ["sh", "tools/lookup.sh"]
description = "Look something up (idempotent)"
schema = {{ type = "object", properties = {{ round = {{ type = "integer" }}, ms = {{ type = "integer" }}, text = {{ type = "string" }} }} }}
idempotent = true

[tools.send]
command = ["sh", "tools/send.sh"]
description = "Send a note (not idempotent)"
schema = {{ type = "object", properties = {{ round = {{ type = "integer" }}, ms = {{ type = "integer" }}, digest = {{ type = "string" }} }} }}
idempotent = false

[agents.mixed]
models = ["campaign"]
tools = ["lookup", "send"]
"#,
            url = LlmServer::get().base_url(id)
        );
        std::fs::write(scratch.file("relive.toml"), config).unwrap();
        let mark = scratch.path().display().to_string();
        Point {
            scratch,
            id,
            mark,
            runs: 0,
        }
    }

    /// Runs `relive ARGS` here until it exits or `trigger` fires; returns
    /// how it ended, its stdout and its stderr.
    fn relive(&mut self, args: &[&str], trigger: Option<Trigger>) -> (Ended, String, String) {
        self.runs += 1;
        let out = self.scratch.file(&format!("stdout-{}.json", self.runs));
        let err = self.scratch.file(&format!("stderr-{}.txt", self.runs));
        let mut cmd: Command = self.scratch.relive();
        cmd.args(args)
            .env(API_KEY_VAR, format!("campaign-process-{}", self.runs))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        let ended = process::run(cmd, self.id, &self.mark, self.scratch.path(), trigger);
        (ended, read(&out), read(&err))
    }

    /// `relive run mixed.wasm --input ROUNDS`.
    pub fn start(&mut self, trigger: Option<Trigger>) -> (Ended, String, String) {
        let component = guest("mixed");
        let rounds = ROUNDS.to_string();
        let args = [
            "run",
            component.to_str().unwrap(),
            "--input",
            &rounds,
            "--json",
            "-q",
        ];
        self.relive(&args, trigger)
    }

    fn resume(&mut self, id: &str, trigger: Option<Trigger>) -> (Ended, String, String) {
        self.relive(&["resume", id, "--json", "-q"], trigger)
    }

    pub fn progress(&self, last: Option<&Snapshot>) -> Progress {
        let Some(last) = last else {
            return Progress::default();
        };
        let done = |kind: EntryKind, name: Option<&str>| {
            last.entries
                .iter()
                .filter(|e| e.kind == kind && name.is_none_or(|n| e.name == n))
                .filter(|e| e.state == EntryState::Completed)
                .count()
        };
        Progress {
            entries: last.entries.len(),
            requests: LlmServer::get().requests(self.id).len(),
            llm_done: done(EntryKind::Llm, None),
            lookups: last.logs.lookup.len(),
            lookups_done: done(EntryKind::Tool, Some(checks::LOOKUP)),
            sends: last.logs.send.len(),
            sends_done: done(EntryKind::Tool, Some(checks::SEND)),
        }
    }

    /// The world right after a kill of process `self.runs`: the journal
    /// (read at once) and the tools' logs. Where the kill landed is judged
    /// once the point is over, when every request the killed process sent
    /// has reached the LLM server.
    fn snapshot(&self, killed_at: Instant) -> Result<Snapshot, String> {
        let (run, entries) = if self.scratch.db().exists() {
            let journal = relive::journal::open(self.scratch.db(), OpenOptions::default())
                .map_err(|e| format!("the journal does not open after a kill: {e}"))?;
            let runs = relive::journal::all_runs(&*journal, None)
                .map_err(|e| format!("the journal's runs cannot be read after a kill: {e}"))?;
            match runs.first() {
                Some(run) => {
                    let entries = journal
                        .entries(&run.id)
                        .map_err(|e| format!("entries cannot be read after a kill: {e}"))?;
                    (Some(run.id.clone()), entries)
                }
                None => (None, Vec::new()),
            }
        } else {
            (None, Vec::new())
        };
        Ok(Snapshot {
            killed_at,
            process: self.runs,
            kind: KillKind::BetweenCalls,
            run,
            entries,
            logs: Logs::read(self.scratch.path()),
        })
    }

    /// Decides an `uncertain` run as an operator would: from `send`'s own
    /// log, `--result` with what it printed if it ran, `--retry` if not.
    fn resolve(&self, id: &str, fault: Fault) -> Result<&'static str, String> {
        let entries = self.scratch.entries(id);
        let last = entries.last().ok_or("an uncertain run without entries")?;
        let interrupted = (last.kind, last.name.as_str(), last.state);
        if interrupted != (EntryKind::Tool, checks::SEND, EntryState::Started) {
            return Err(format!(
                "the run is uncertain at entry #{} ({} `{}`, {:?}), not at a started `send`",
                last.seq, last.kind, last.name, last.state
            ));
        }
        let key = checks::key(id, last.seq);
        let logs = Logs::read(self.scratch.path());
        let ran = logs.send.iter().find(|e| e.key == key);
        let (how, out) = match ran {
            Some(exec) if fault != Fault::CarelessOperator => {
                let result = format!("{{\"sent\": {}}}", exec.args);
                let out = self.scratch.run(&["resolve", id, "--result", &result]);
                ("result", out)
            }
            _ => ("retry", self.scratch.run(&["resolve", id, "--retry"])),
        };
        if out.status.code() != Some(0) {
            return Err(format!(
                "`relive resolve {id}` ({how}) failed: {}",
                stderr(&out)
            ));
        }
        Ok(how)
    }

    /// Deletes the last completed LLM entry of run `id` and every entry
    /// after it ([`Fault::LoseCommittedTail`]).
    fn lose_committed_tail(&self, id: &str) {
        let entries = self.scratch.entries(id);
        let Some(llm) = entries
            .iter()
            .rev()
            .find(|e| e.kind == EntryKind::Llm && e.state == EntryState::Completed)
        else {
            return;
        };
        let conn = rusqlite::Connection::open(self.scratch.db()).unwrap();
        conn.execute(
            "DELETE FROM entries WHERE run_id = ?1 AND seq >= ?2",
            rusqlite::params![id, llm.seq as i64],
        )
        .unwrap();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The last lines of a process's stderr, for a finding.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(6)..].join("\n      ")
}

/// Runs one kill point to the end and checks it.
pub fn run_point(plan: Plan, baseline: Baseline, fault: Fault) -> Outcome {
    let mut point = Point::new();
    let mut outcome = Outcome::default();
    if let Err(message) = run_point_in(&mut point, plan, baseline, fault, &mut outcome) {
        outcome.findings.fail(message);
    }
    LlmServer::get().forget(point.id);
    outcome
}

fn run_point_in(
    point: &mut Point,
    plan: Plan,
    baseline: Baseline,
    fault: Fault,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let mut snapshots: Vec<Snapshot> = Vec::new();
    let first = plan.first.trigger(baseline, &Progress::default(), false);
    let (ended, out, err) = point.start(Some(first));
    let (id, mut report) = match ended {
        Ended::Exited(status) => {
            outcome.kills.push((false, KillKind::AfterEnd));
            let report: serde_json::Value = serde_json::from_str(&out).map_err(|e| {
                format!(
                    "`relive run` ({status}) printed no report ({e}): {}",
                    tail(&err)
                )
            })?;
            let id = report["id"].as_str().ok_or("the report has no id")?;
            (id.to_string(), Some(report))
        }
        Ended::Killed(at) => {
            let snapshot = point.snapshot(at)?;
            let Some(id) = snapshot.run.clone() else {
                outcome.kills.push((false, KillKind::BeforeRun));
                // Nothing may happen outside before the journal holds the run.
                if !snapshot.logs.is_empty() || !LlmServer::get().requests(point.id).is_empty() {
                    return Err(
                        "a tool or the LLM was called before the journal held the run".into(),
                    );
                }
                return Ok(());
            };
            snapshots.push(snapshot);
            if fault == Fault::LoseCommittedTail {
                point.lose_committed_tail(&id);
            }
            (id, None)
        }
    };

    let mut second = plan.second;
    let mut ended_before_second_kill = false;
    let mut resumes = 0;
    while report.is_none() {
        resumes += 1;
        if resumes > MAX_RESUMES {
            return Err(format!("run {id} did not end after {MAX_RESUMES} resumes"));
        }
        let kill = second.take();
        let progress = point.progress(snapshots.last());
        let trigger = kill.map(|k| k.trigger(baseline, &progress, true));
        let (ended, out, err) = point.resume(&id, trigger);
        match ended {
            Ended::Killed(at) => snapshots.push(point.snapshot(at)?),
            Ended::Exited(status) => {
                if kill.is_some() {
                    ended_before_second_kill = true;
                }
                // What to do next is decided from the journal, as an
                // operator would; the exit code must agree with it.
                let record = point.scratch.run_record(&id);
                let code = status.code();
                match record.status {
                    RunStatus::Completed if code == Some(0) => {
                        let resumed = serde_json::from_str(&out).map_err(|e| {
                            format!("`relive resume {id}` printed no report ({e}): {out}")
                        })?;
                        report = Some(resumed);
                    }
                    RunStatus::Uncertain => {
                        if code != Some(5) {
                            outcome.findings.known(
                                Known::UncertainExitCode,
                                format!(
                                    "`relive resume {id}` of an uncertain run ended {status}, not with exit code 5: {}",
                                    tail(&err)
                                ),
                            );
                        }
                        outcome.resolved.push(point.resolve(&id, fault)?);
                    }
                    other => {
                        return Err(format!(
                            "`relive resume {id}` ended {status} and left the run {other}: {out}\n      {}",
                            tail(&err)
                        ));
                    }
                }
            }
        }
    }
    let report = report.expect("the loop ends with a report");
    let llm = LlmServer::get().requests(point.id);
    for i in 0..snapshots.len() {
        let (before, rest) = snapshots.split_at_mut(i);
        rest[0].classify(before.last(), &llm);
        outcome.kills.push((i > 0, rest[0].kind));
    }
    if ended_before_second_kill {
        outcome.kills.push((true, KillKind::AfterEnd));
    }

    // The run completed, with the output a replay of its journal produces.
    let record = point.scratch.run_record(&id);
    let output = report["output"].as_str().unwrap_or_default();
    if record.status != RunStatus::Completed || record.output.as_deref() != Some(output) {
        return Err(format!(
            "run {id} is {} with output {:?}; the last process reported {report}",
            record.status, record.output
        ));
    }
    let calls = ROUNDS as usize * CALLS_PER_ROUND;
    if !output.starts_with(&format!(
        r#"{{"rounds":{ROUNDS},"calls":{calls},"digest":""#
    )) {
        outcome
            .findings
            .fail(format!("unexpected output {output:?}"));
    }
    let replay = export_and_replay(&point.scratch, &id, &guest("mixed"));
    if replay["passed"] != true {
        outcome
            .findings
            .fail(format!("the replay of the final journal failed: {replay}"));
    }
    let entries = point.scratch.entries(&id);
    if entries.len() != baseline.entries {
        outcome.findings.fail(format!(
            "the final journal has {} entries, an uninterrupted run {}",
            entries.len(),
            baseline.entries
        ));
    }
    let logs = Logs::read(point.scratch.path());
    checks::check(
        &id,
        &entries,
        &snapshots,
        &logs,
        &llm,
        &mut outcome.findings,
    );
    Ok(())
}
