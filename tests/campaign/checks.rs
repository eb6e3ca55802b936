//! What the campaign checks after a kill point has run to its end: the
//! guarantees of DESIGN §3–4, stated against what the outside world saw
//! (the tools' own execution logs, the LLM server's requests) and against
//! the journal as it was right after each kill.

use super::llm_server::Request;
use relive::journal::{Entry, EntryKind, EntryState};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Instant;

/// The idempotent tool and the non-idempotent one (tests/guests/mixed).
pub const LOOKUP: &str = "lookup";
pub const SEND: &str = "send";

/// One execution of a command tool, from its log: the idempotency key it
/// got and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    pub key: String,
    pub args: String,
}

/// The tools' logs: executions (written when a tool starts) and the keys
/// of the executions that finished.
#[derive(Clone, Debug, Default)]
pub struct Logs {
    pub lookup: Vec<Exec>,
    pub send: Vec<Exec>,
    pub lookup_done: Vec<String>,
    pub send_done: Vec<String>,
}

impl Logs {
    /// The logs in the folder `dir` (empty where a file does not exist).
    pub fn read(dir: &Path) -> Logs {
        let lines = |name: &str| -> Vec<String> {
            let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            text.lines().map(str::to_string).collect()
        };
        let execs = |name: &str| -> Vec<Exec> {
            lines(name)
                .into_iter()
                .map(|line| {
                    let (key, args) = line.split_once(' ').unwrap_or((&line, ""));
                    Exec {
                        key: key.to_string(),
                        args: args.to_string(),
                    }
                })
                .collect()
        };
        Logs {
            lookup: execs("lookup.log"),
            send: execs("send.log"),
            lookup_done: lines("lookup.done"),
            send_done: lines("send.done"),
        }
    }

    pub fn execs(&self, tool: &str) -> &[Exec] {
        if tool == LOOKUP {
            &self.lookup
        } else {
            &self.send
        }
    }

    fn done(&self, tool: &str) -> &[String] {
        if tool == LOOKUP {
            &self.lookup_done
        } else {
            &self.send_done
        }
    }

    /// How often `tool` ran with `key`.
    pub fn count(&self, tool: &str, key: &str) -> usize {
        self.execs(tool).iter().filter(|e| e.key == key).count()
    }

    /// Whether `tool` has an execution that started after `before` was
    /// read and has not finished: the one a kill cut.
    pub fn cut_since(&self, tool: &str, before: Option<&Logs>) -> bool {
        let (started, done) = before.map_or((0, 0), |b| (b.execs(tool).len(), b.done(tool).len()));
        let started = &self.execs(tool)[started..];
        let done = &self.done(tool)[done..];
        started.iter().any(|e| {
            let runs = started.iter().filter(|s| s.key == e.key).count();
            runs > done.iter().filter(|k| **k == e.key).count()
        })
    }

    /// Whether anything ran at all.
    pub fn is_empty(&self) -> bool {
        self.lookup.is_empty() && self.send.is_empty()
    }
}

/// Where a kill landed, judged from what the outside world saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KillKind {
    /// The journal held no run yet.
    BeforeRun,
    /// Before the run did anything new: the host starting, a resume
    /// replaying.
    Starting,
    /// An LLM request was being served.
    DuringLlm,
    /// The idempotent tool was running.
    DuringLookup,
    /// The non-idempotent tool was running.
    DuringSend,
    /// Nothing outside was in progress.
    BetweenCalls,
    /// The process ended before the kill came.
    AfterEnd,
}

impl fmt::Display for KillKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KillKind::BeforeRun => "before the run existed",
            KillKind::Starting => "while starting or replaying",
            KillKind::DuringLlm => "during an LLM call",
            KillKind::DuringLookup => "during `lookup` (idempotent)",
            KillKind::DuringSend => "during `send` (not idempotent)",
            KillKind::BetweenCalls => "between calls",
            KillKind::AfterEnd => "after the process ended",
        })
    }
}

/// What the world looked like right after one kill.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub killed_at: Instant,
    /// The point's process that was killed (from 1).
    pub process: usize,
    pub kind: KillKind,
    /// The run's id, if the journal held one.
    pub run: Option<String>,
    pub entries: Vec<Entry>,
    pub logs: Logs,
}

impl Snapshot {
    /// Where the kill landed, judged from what happened since `previous`
    /// (the snapshot of the kill before, if any) and from the LLM requests
    /// `llm` of the whole point.
    pub fn classify(&mut self, previous: Option<&Snapshot>, llm: &[Request]) {
        let (entries, lookup, send) = previous.map_or((0, 0, 0), |p| {
            (p.entries.len(), p.logs.lookup.len(), p.logs.send.len())
        });
        let logs_before = previous.map(|p| &p.logs);
        let mut sent = llm.iter().filter(|r| r.process == self.process).peekable();
        self.kind = if self.run.is_none() {
            KillKind::BeforeRun
        } else if llm
            .iter()
            .any(|r| r.process == self.process && r.open_at(self.killed_at))
        {
            KillKind::DuringLlm
        } else if self.logs.cut_since(SEND, logs_before) {
            KillKind::DuringSend
        } else if self.logs.cut_since(LOOKUP, logs_before) {
            KillKind::DuringLookup
        } else if self.entries.len() <= entries
            && sent.peek().is_none()
            && self.logs.lookup.len() == lookup
            && self.logs.send.len() == send
        {
            KillKind::Starting
        } else {
            KillKind::BetweenCalls
        };
    }

    fn entry(&self, seq: u64) -> Option<&Entry> {
        self.entries.get(seq as usize).filter(|e| e.seq == seq)
    }
}

/// A violation relive had before issue 12, classified so that a failure
/// names it. Each fails the campaign (`RELIVE_CAMPAIGN_STRICT=0` only counts
/// them); `campaign_issue_12_4_a_request_is_committed_before_it_leaves`
/// pins the seed that found them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Known {
    /// Issue 12.4: an LLM call's `started` entry is written lazily, so a
    /// request can leave the host before the journal holds it.
    LlmSentBeforeEntry,
    /// Issue 12.4: after such a loss the resumed run sends a different body
    /// under the same idempotency key.
    LlmKeyReused,
    /// DESIGN §3 rule 1, the same lazy write for idempotent tools: a tool
    /// can start before the journal holds its `started` entry.
    ToolStartedBeforeEntry,
    /// The same, for tools: one key, two sets of arguments.
    ToolKeyReused,
    /// Issue 12.10: `relive resume` of a run that is already `uncertain`
    /// (a kill hit the resume that made it so, before it printed its
    /// report) exits 1, not 5.
    UncertainExitCode,
}

impl fmt::Display for Known {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Known::LlmSentBeforeEntry => {
                "LLM request left the host before its `started` entry was committed (issue 12.4)"
            }
            Known::LlmKeyReused => {
                "one idempotency key, two different LLM requests (issue 12.4)"
            }
            Known::ToolStartedBeforeEntry => {
                "idempotent tool started before its `started` entry was committed (DESIGN §3 rule 1)"
            }
            Known::ToolKeyReused => {
                "one idempotency key, two different `lookup` argument sets (DESIGN §3 rule 1)"
            }
            Known::UncertainExitCode => {
                "`relive resume` of a run already uncertain exits 1, not 5 (issue 12.10)"
            }
        })
    }
}

/// One failed check: a message, and the known fault it is, if any.
#[derive(Clone, Debug)]
pub struct Finding {
    pub known: Option<Known>,
    pub message: String,
}

/// Collects findings.
#[derive(Default)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    pub fn fail(&mut self, message: String) {
        self.0.push(Finding {
            known: None,
            message,
        });
    }

    pub fn known(&mut self, known: Known, message: String) {
        self.0.push(Finding {
            known: Some(known),
            message,
        });
    }
}

/// The idempotency key of entry `seq` of run `id` (DESIGN §4).
pub fn key(id: &str, seq: u64) -> String {
    format!("relive-{id}-{seq}")
}

/// Checks every guarantee about the finished run `id`: its final journal
/// `entries`, the snapshots taken after its kills, the tools' final `logs`
/// and the LLM server's `llm` requests.
pub fn check(
    id: &str,
    entries: &[Entry],
    snapshots: &[Snapshot],
    logs: &Logs,
    llm: &[Request],
    findings: &mut Findings,
) {
    for e in entries.iter().filter(|e| e.state != EntryState::Completed) {
        findings.fail(format!(
            "entry #{} is still {:?} after the run ended",
            e.seq, e.state
        ));
    }
    for (i, snapshot) in snapshots.iter().enumerate() {
        prefix(i + 1, snapshot, entries, findings);
    }
    for tool in [LOOKUP, SEND] {
        tool_calls(id, tool, entries, snapshots, logs, findings);
    }
    llm_calls(id, entries, snapshots, llm, findings);
}

/// The journal right after kill `n` is a prefix of the final journal: the
/// same entries in the same order; a `started` one may have completed.
fn prefix(n: usize, snapshot: &Snapshot, entries: &[Entry], findings: &mut Findings) {
    if snapshot.entries.len() > entries.len() {
        findings.fail(format!(
            "kill {n}: the journal held {} entries, the final one only {}",
            snapshot.entries.len(),
            entries.len()
        ));
    }
    for (old, new) in snapshot.entries.iter().zip(entries) {
        let same_call = (
            old.seq,
            old.kind,
            &old.name,
            &old.request_digest,
            &old.request,
        ) == (
            new.seq,
            new.kind,
            &new.name,
            &new.request_digest,
            &new.request,
        );
        if !same_call {
            findings.fail(format!(
                "kill {n}: entry #{} changed: was {} `{}` {}, is #{} {} `{}` {}",
                old.seq, old.kind, old.name, old.request, new.seq, new.kind, new.name, new.request
            ));
            return;
        }
        if old.state == EntryState::Completed && old.response != new.response {
            findings.fail(format!(
                "kill {n}: completed entry #{} changed its answer: {:?} became {:?}",
                old.seq, old.response, new.response
            ));
        }
    }
}

/// Every execution of `tool` belongs to one of its entries and carries that
/// entry's arguments; a call completed before a kill never ran again; a
/// call ran again only across a kill that cut it; `send` ran exactly once.
fn tool_calls(
    id: &str,
    tool: &str,
    entries: &[Entry],
    snapshots: &[Snapshot],
    logs: &Logs,
    findings: &mut Findings,
) {
    let calls: HashMap<String, &Entry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Tool && e.name == tool)
        .map(|e| (key(id, e.seq), e))
        .collect();
    for exec in logs.execs(tool) {
        match calls.get(&exec.key) {
            None => findings.fail(format!(
                "`{tool}` ran with key {} (arguments {}), which names no `{tool}` entry of the final journal",
                exec.key, exec.args
            )),
            Some(e) if e.request != exec.args => {
                let message = format!(
                    "`{tool}` ran with key {} and arguments {}, but entry #{} holds {}",
                    exec.key, exec.args, e.seq, e.request
                );
                match tool {
                    LOOKUP => findings.known(Known::ToolKeyReused, message),
                    _ => findings.fail(message),
                }
            }
            Some(_) => {}
        }
    }
    for (key, e) in &calls {
        let total = logs.count(tool, key);
        // Kills that cut this call: it had run and was not completed.
        let mut cut = 0;
        let mut before = 0;
        for (i, s) in snapshots.iter().enumerate() {
            let ran = s.logs.count(tool, key);
            match s.entry(e.seq).map(|old| old.state) {
                Some(EntryState::Completed) if total != ran => findings.fail(format!(
                    "`{tool}` call #{} was completed at kill {} and ran {} more time(s) after it",
                    e.seq,
                    i + 1,
                    total - ran
                )),
                Some(EntryState::Completed) => {}
                Some(EntryState::Started) => cut += usize::from(ran > before),
                None if ran > before => {
                    cut += 1;
                    let message = format!(
                        "kill {}: `{tool}` call #{} had started (key {key}) but the journal held no entry #{} for it",
                        i + 1,
                        e.seq,
                        e.seq
                    );
                    match tool {
                        LOOKUP => findings.known(Known::ToolStartedBeforeEntry, message),
                        _ => findings.fail(message),
                    }
                }
                None => {}
            }
            before = ran;
        }
        if tool == SEND && total != 1 {
            findings.fail(format!(
                "`send` (not idempotent) call #{} ran {total} times (key {key})",
                e.seq
            ));
        } else if total == 0 {
            findings.fail(format!("`{tool}` call #{} never ran (key {key})", e.seq));
        } else if total > 1 + cut {
            findings.fail(format!(
                "`{tool}` call #{} ran {total} times, but only {cut} kill(s) cut it (key {key})",
                e.seq
            ));
        }
    }
}

/// Every LLM request belongs to an LLM entry; a key is sent once per host
/// process (more only as retries the entry records), and again only by a
/// process after a kill that found its call in flight (journaled `started`,
/// not completed), with the same body; the journal held the entry before
/// the request left.
fn llm_calls(
    id: &str,
    entries: &[Entry],
    snapshots: &[Snapshot],
    llm: &[Request],
    findings: &mut Findings,
) {
    let calls: HashMap<String, &Entry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Llm)
        .map(|e| (key(id, e.seq), e))
        .collect();
    for r in llm {
        if !calls.contains_key(&r.key) {
            findings.fail(format!(
                "the LLM server got key {:?}, which names no LLM entry of the final journal",
                r.key
            ));
        }
    }
    for (key, e) in &calls {
        let sent: Vec<&Request> = llm.iter().filter(|r| r.key == *key).collect();
        if sent.is_empty() {
            findings.fail(format!("LLM call #{} was never sent (key {key})", e.seq));
            continue;
        }
        if let Some(other) = sent.iter().find(|r| r.body != sent[0].body) {
            findings.known(
                Known::LlmKeyReused,
                format!(
                    "LLM call #{} was sent under key {key} with two bodies:\n      {}\n      {}",
                    e.seq, sent[0].body, other.body
                ),
            );
        }
        let mut processes: Vec<usize> = sent.iter().map(|r| r.process).collect();
        processes.dedup();
        for p in &processes {
            let n = sent.iter().filter(|r| r.process == *p).count();
            if n > 1 + e.attempts.len() {
                findings.fail(format!(
                    "LLM call #{} was sent {n} times by process {p}, which recorded {} attempt(s) (key {key})",
                    e.seq,
                    e.attempts.len()
                ));
            }
        }
        let mut before = 0;
        for (i, s) in snapshots.iter().enumerate() {
            // Sent by the processes since the kill before, the killed one last.
            let here = sent
                .iter()
                .filter(|r| r.process > before && r.process <= s.process)
                .count();
            let later = sent.iter().filter(|r| r.process > s.process).count();
            match s.entry(e.seq).map(|old| old.state) {
                Some(EntryState::Completed) if later > 0 => findings.fail(format!(
                    "LLM call #{} was completed at kill {} and sent again {later} time(s) after it (key {key})",
                    e.seq,
                    i + 1
                )),
                None if here > 0 => findings.known(
                    Known::LlmSentBeforeEntry,
                    format!(
                        "kill {}: LLM call #{} had been sent (key {key}) but the journal held no entry #{} for it",
                        i + 1,
                        e.seq,
                        e.seq
                    ),
                ),
                _ => {}
            }
            before = s.process;
        }
    }
}
