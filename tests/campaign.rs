//! The crash campaign (issue 12.11): the fixed kill points of kill.rs turned
//! into randomised, seeded ones.
//!
//! The agent (tests/guests/mixed) makes 5 rounds of 7 host calls: a log
//! line, a clock read, a random read, an LLM call (to the server in
//! `llm_server`), another random read, the idempotent tool `lookup` and the
//! non-idempotent tool `send` (tests/guests/mixed/tools). Each kill point
//! runs the real `relive` binary and SIGKILLs it (and its tools) at a time
//! drawn from a seeded generator — a delay, a journal length, the arrival of
//! the N-th LLM request, or the start of a tool — sometimes kills the first
//! resume too, then resumes until the run ends, resolving an `uncertain` run
//! from `send`'s own log as an operator would. Then `checks` holds the run
//! to DESIGN §3–4 (prefix, tools run once, requests re-sent only when in
//! flight), and its output must equal a `relive replay` of its journal.
//!
//! - `cargo test --test e2e campaign`: a seeded subset (up to 100 points,
//!   stopping after 70 s) and two tests that inject faults to show the
//!   checks catch them.
//! - `RELIVE_CAMPAIGN=full`: the full campaign, 500 points (about 6 min).
//! - `RELIVE_CAMPAIGN_SEED=N` (decimal or 0x hex) replays a campaign;
//!   `RELIVE_CAMPAIGN_POINT=I` runs only its point I (see a failure's
//!   message); the faults classified in `checks::Known` (fixed in issue
//!   12) fail the campaign; `RELIVE_CAMPAIGN_STRICT=0` only counts them.
//!
//! Kill times are random, so a seed fixes the plan (where to kill), not
//! the machine's timing: a point re-run with its seed kills at the same
//! delay, entry count, request or tool start, which lands in the same place
//! most times.

mod checks;
mod llm_server;
mod point;
mod process;

use checks::{Findings, KillKind, Known, Logs};
use llm_server::LlmServer;
use point::{Fault, Point, Progress};
use process::{Ended, Trigger};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Rounds of the agent: 35 host calls.
const ROUNDS: u64 = 5;
/// Host calls per round (tests/guests/mixed).
const CALLS_PER_ROUND: usize = 7;
/// Points of the seeded subset in the normal suite, and its time budget.
const SUBSET_POINTS: u64 = 100;
const SUBSET_BUDGET: Duration = Duration::from_secs(70);
/// Points of the full campaign.
const FULL_POINTS: u64 = 500;
/// How often the first resume is killed too.
const SECOND_KILL_CHANCE: f64 = 0.35;
/// Most `relive resume` calls one point may need.
const MAX_RESUMES: usize = 8;

/// SplitMix64: a small generator whose output is fixed forever, so a seed
/// names the same campaign on every machine and library version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How a kill time is drawn; `f` (in [0, 1)) picks the place in what is
/// left of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// A delay after the process starts.
    Delay,
    /// The moment the journal (polled read-only) holds N entries.
    Entries,
    /// The arrival of an LLM request: it has just left the host.
    LlmRequest,
    /// The start of a tool's execution (its log line appears).
    ToolStart(&'static str),
}

#[derive(Clone, Copy, Debug)]
struct KillAt {
    mode: Mode,
    f: f64,
}

/// Where point `index` of campaign `seed` kills.
#[derive(Clone, Copy, Debug)]
struct Plan {
    first: KillAt,
    /// A second kill, during the first resume.
    second: Option<KillAt>,
}

impl Plan {
    fn draw(seed: u64, index: u64) -> Plan {
        let mut rng = Rng(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03));
        let kill = |rng: &mut Rng| {
            let mode = match rng.unit() {
                x if x < 0.35 => Mode::Delay,
                x if x < 0.55 => Mode::Entries,
                x if x < 0.75 => Mode::LlmRequest,
                x if x < 0.875 => Mode::ToolStart(checks::LOOKUP),
                _ => Mode::ToolStart(checks::SEND),
            };
            KillAt {
                mode,
                f: rng.unit(),
            }
        };
        let first = kill(&mut rng);
        let second = (rng.unit() < SECOND_KILL_CHANCE).then(|| kill(&mut rng));
        Plan { first, second }
    }
}

/// An uninterrupted run: how long it takes, how long before its first LLM
/// request, and how many entries it writes.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    duration: Duration,
    startup: Duration,
    entries: usize,
}

impl KillAt {
    /// The trigger for a process that starts at `now` (`resume`: a
    /// `relive resume`, which replays what is done and runs the rest).
    fn trigger(self, baseline: Baseline, now: &Progress, resume: bool) -> Trigger {
        let part = |n: usize| (self.f * n as f64) as usize;
        let rounds = ROUNDS as usize;
        match self.mode {
            Mode::Delay if !resume => Trigger::After(baseline.duration.mul_f64(self.f)),
            Mode::Delay => {
                let left = baseline.entries.saturating_sub(now.entries) as f64;
                let work = baseline.duration.saturating_sub(baseline.startup);
                let span = baseline.startup + work.mul_f64(left / baseline.entries as f64);
                Trigger::After(span.mul_f64(self.f))
            }
            Mode::Entries => {
                let left = baseline.entries.saturating_sub(now.entries);
                Trigger::Entries(now.entries + 1 + part(left))
            }
            Mode::LlmRequest => {
                let left = rounds.saturating_sub(now.llm_done).max(1);
                Trigger::LlmRequest(now.requests + 1 + part(left))
            }
            Mode::ToolStart(tool) => {
                let (ran, done) = if tool == checks::LOOKUP {
                    (now.lookups, now.lookups_done)
                } else {
                    (now.sends, now.sends_done)
                };
                let left = rounds.saturating_sub(done).max(1);
                Trigger::ToolStarted(tool, ran + 1 + part(left))
            }
        }
    }
}

/// Two uninterrupted runs (the first warms the compilation cache); the
/// second is measured, and both are checked like kill points.
fn baseline() -> Baseline {
    let mut measured = None;
    for _ in 0..2 {
        let mut point = Point::new();
        let started = Instant::now();
        let (ended, out, err) = point.start(None);
        let duration = started.elapsed();
        assert!(
            matches!(ended, Ended::Exited(s) if s.success()),
            "{ended:?}: {err}"
        );
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let id = report["id"].as_str().unwrap();
        let entries = point.scratch.entries(id);
        assert_eq!(entries.len(), ROUNDS as usize * CALLS_PER_ROUND);
        let mut findings = Findings::default();
        let logs = Logs::read(point.scratch.path());
        let llm = LlmServer::get().requests(point.id);
        checks::check(id, &entries, &[], &logs, &llm, &mut findings);
        assert!(
            findings.0.is_empty(),
            "an uninterrupted run: {:#?}",
            findings.0
        );
        LlmServer::get().forget(point.id);
        measured = Some(Baseline {
            duration,
            startup: llm[0].arrived.saturating_duration_since(started),
            entries: entries.len(),
        });
    }
    measured.unwrap()
}

/// The campaign's seed: `RELIVE_CAMPAIGN_SEED`, or drawn from the clock.
fn seed() -> u64 {
    match std::env::var("RELIVE_CAMPAIGN_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("RELIVE_CAMPAIGN_SEED={text:?} is not a number: {e}"))
        }
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            Rng(nanos ^ u64::from(std::process::id())).next()
        }
    }
}

fn full() -> bool {
    std::env::var("RELIVE_CAMPAIGN").is_ok_and(|v| v == "full")
}

/// The faults once tolerated as known (`checks::Known`) fail the campaign:
/// they are fixed (issue 12.4 and 12.10). `RELIVE_CAMPAIGN_STRICT=0` only
/// counts them, to survey a regression.
fn strict() -> bool {
    std::env::var("RELIVE_CAMPAIGN_STRICT").map_or(true, |v| v != "0")
}

/// What a campaign covered and found.
#[derive(Default)]
struct Summary {
    points: usize,
    first: BTreeMap<KillKind, usize>,
    second: BTreeMap<KillKind, usize>,
    resolved: BTreeMap<&'static str, usize>,
    known: BTreeMap<Known, usize>,
    /// Findings that fail the campaign, each with its rerun command.
    failures: Vec<String>,
}

/// Runs points `indices` of campaign `seed` (stopping early past
/// `budget`) and prints what they covered and found; a finding fails unless
/// it is a known fault and the campaign is not `strict`.
fn campaign(
    name: &str,
    seed: u64,
    indices: Vec<u64>,
    budget: Option<Duration>,
    strict: bool,
) -> Summary {
    eprintln!("campaign {name}: seed {seed:#x} (RELIVE_CAMPAIGN_SEED={seed:#x} replays it)");
    let started = Instant::now();
    let baseline = baseline();
    eprintln!(
        "campaign {name}: an uninterrupted run takes {:.0?} ({:.0?} to its first LLM request) and writes {} entries",
        baseline.duration, baseline.startup, baseline.entries
    );
    let mut summary = Summary::default();
    for index in indices {
        if budget.is_some_and(|b| started.elapsed() > b) {
            eprintln!(
                "campaign {name}: time budget spent; stopping after {} points",
                summary.points
            );
            break;
        }
        summary.points += 1;
        let plan = Plan::draw(seed, index);
        let begun = Instant::now();
        let outcome = point::run_point(plan, baseline, Fault::None);
        for (resume, kind) in &outcome.kills {
            let counts = if *resume {
                &mut summary.second
            } else {
                &mut summary.first
            };
            *counts.entry(*kind).or_default() += 1;
        }
        for how in &outcome.resolved {
            *summary.resolved.entry(how).or_default() += 1;
        }
        let mut verdict = "ok".to_string();
        for finding in &outcome.findings.0 {
            let message = format!(
                "point {index} (seed {seed:#x}, {plan:?}): {}\n    rerun: RELIVE_CAMPAIGN_SEED={seed:#x} RELIVE_CAMPAIGN_POINT={index}{} cargo test --test e2e campaign -- --nocapture",
                finding.message,
                if strict {
                    " RELIVE_CAMPAIGN_STRICT=1"
                } else {
                    ""
                }
            );
            match finding.known {
                Some(known) => {
                    *summary.known.entry(known).or_default() += 1;
                    if verdict == "ok" {
                        verdict = format!("known fault: {known}");
                    }
                    eprintln!("  known fault: {message}");
                    if strict {
                        summary.failures.push(message);
                    }
                }
                None => {
                    verdict = "FAILED".into();
                    eprintln!("  FAILED: {message}");
                    summary.failures.push(message);
                }
            }
        }
        let kills: Vec<String> = outcome
            .kills
            .iter()
            .map(|(resume, kind)| format!("{}{kind}", if *resume { "resume " } else { "" }))
            .collect();
        eprintln!(
            "  point {index}: killed {} — {verdict} ({:.1?})",
            kills.join(", then "),
            begun.elapsed()
        );
    }
    let list = |m: &BTreeMap<KillKind, usize>| {
        let parts: Vec<String> = m.iter().map(|(k, n)| format!("{n} {k}")).collect();
        parts.join(", ")
    };
    // Written past the test harness's capture, so that a passing suite
    // still says how many kill points it covered (issue 12.11).
    let covered = format!(
        "campaign {name}: seed {seed:#x}, {} kill points in {:.1?}, {} of them killed again during the resume, {} failure(s)\n",
        summary.points,
        started.elapsed(),
        summary.second.values().sum::<usize>(),
        summary.failures.len()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), covered.as_bytes());
    eprintln!("  first kill: {}", list(&summary.first));
    eprintln!(
        "  second kill, during the resume: {} ({})",
        summary.second.values().sum::<usize>(),
        list(&summary.second)
    );
    eprintln!(
        "  uncertain runs resolved: {} with --result, {} with --retry",
        summary.resolved.get("result").unwrap_or(&0),
        summary.resolved.get("retry").unwrap_or(&0)
    );
    for (known, n) in &summary.known {
        let how = if strict { "failing" } else { "tolerated" };
        eprintln!("  known fault ({how}), {n} time(s): {known}");
    }
    eprintln!("  failures: {}", summary.failures.len());
    summary
}

/// Fails the test with every failure of `summary`.
fn assert_passed(name: &str, seed: u64, summary: &Summary) {
    assert!(
        summary.failures.is_empty(),
        "{} failure(s) in campaign {name} (seed {seed:#x}):\n{}",
        summary.failures.len(),
        summary.failures.join("\n")
    );
}

/// The points to run: `RELIVE_CAMPAIGN_POINT` alone, or `0..count`.
fn indices(count: u64) -> Vec<u64> {
    match std::env::var("RELIVE_CAMPAIGN_POINT") {
        Ok(p) => vec![p.parse().expect("RELIVE_CAMPAIGN_POINT is a point number")],
        Err(_) => (0..count).collect(),
    }
}

/// The seeded subset of the normal suite: up to 100 kill points, stopping
/// once 70 s are spent.
#[test]
fn campaign_seeded_subset() {
    if full() {
        eprintln!("RELIVE_CAMPAIGN=full: the subset is left to campaign_full");
        return;
    }
    let seed = seed();
    let summary = campaign(
        "subset",
        seed,
        indices(SUBSET_POINTS),
        Some(SUBSET_BUDGET),
        strict(),
    );
    assert_passed("subset", seed, &summary);
}

/// The full campaign, 500 kill points: only with `RELIVE_CAMPAIGN=full`.
#[test]
fn campaign_full() {
    if !full() {
        eprintln!("campaign_full: skipped; set RELIVE_CAMPAIGN=full to run it");
        return;
    }
    let seed = seed();
    let summary = campaign("full", seed, indices(FULL_POINTS), None, strict());
    assert_passed("full", seed, &summary);
}

/// The checks catch a non-idempotent call run twice: here the operator
/// answers `--retry` although `send`'s log shows the interrupted call ran.
#[test]
fn campaign_checks_catch_a_send_run_twice() {
    let plan = Plan {
        first: KillAt {
            mode: Mode::ToolStart(checks::SEND),
            f: 0.5,
        },
        second: None,
    };
    let outcome = point::run_point(plan, shared_baseline(), Fault::CarelessOperator);
    assert_eq!(outcome.resolved, ["retry"], "{:?}", outcome.kills);
    let messages: Vec<&str> = outcome
        .findings
        .0
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`send` (not idempotent) call #") && m.contains("ran 2 times")),
        "{messages:#?}"
    );
}

/// The checks catch completed calls that run again because the journal
/// lost them: here, after a kill as the third `send` starts, the third LLM
/// entry and all after it are deleted.
#[test]
fn campaign_checks_catch_completed_calls_run_again() {
    let plan = Plan {
        first: KillAt {
            mode: Mode::ToolStart(checks::SEND),
            f: 0.5,
        },
        second: None,
    };
    let outcome = point::run_point(plan, shared_baseline(), Fault::LoseCommittedTail);
    let messages: Vec<&str> = outcome
        .findings
        .0
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    let found = |parts: &[&str]| messages.iter().any(|m| parts.iter().all(|p| m.contains(p)));
    assert!(
        found(&[
            "LLM call #",
            "was completed at kill 1 and sent again 1 time(s)"
        ]),
        "{messages:#?}"
    );
    assert!(
        found(&[
            "`lookup` call #",
            "was completed at kill 1 and ran 1 more time(s)"
        ]),
        "{messages:#?}"
    );
    assert!(
        found(&["`send` (not idempotent) call #", "ran 2 times"]),
        "{messages:#?}"
    );
}

/// Issue 12.4, pinned: the `started` entry of an LLM call was written
/// lazily, so the request left the host before the journal held it. Found
/// by the campaign with seed 0x1:
///
/// - point 0 (first kill at the arrival of the 4th LLM request, no second
///   kill; fails every time here): the journal read right after the kill
///   ends before entry #24, the LLM call of round 4, which the server had
///   received under key `relive-RUN-24`; the clock and random reads of that
///   round (#22, #23) were lost with it. The resume draws them again and
///   sends round 4 under the same key with a different body
///   (`round 4 of 5 at T1, nonce N1`, then `at T2, nonce N2`).
/// - point 12 (a delay of 0.62 of a run, then a second kill as `send`
///   starts; timing-dependent, seen once in 87 points): the same for the
///   idempotent tool. `lookup` #26 (round 4) ran with
///   `{"round":4,"ms":26,...}` before the journal held its entry or the
///   random read (#25) that chose 26; the resume re-ran key
///   `relive-RUN-26` with `{"round":4,"ms":23,...}` (DESIGN §3 rule 1).
///
/// Both failed on the main of 2026-12-03 (5 times out of 5 for point 0);
/// they pass since the request a key names is committed before it leaves
/// the host.
#[test]
fn campaign_issue_12_4_a_request_is_committed_before_it_leaves() {
    let seed = 0x1;
    let summary = campaign("issue 12.4", seed, vec![0, 12], None, true);
    assert_passed("issue 12.4", seed, &summary);
}

/// One baseline for the tests that run single points.
fn shared_baseline() -> Baseline {
    static BASELINE: std::sync::OnceLock<Baseline> = std::sync::OnceLock::new();
    *BASELINE.get_or_init(baseline)
}
