//! Journals written by every past relive open with today's (issue 12.1).
//!
//! `tests/fixtures/journals/vN.db` was written by the real `relive` of the
//! last commit of schema version N, driven through the scenarios that
//! `vN.runs.json` lists: runs in every status that version knew, entries of
//! every kind it wrote, blobs, retried attempts, waits, leases
//! (`make.sh` there regenerates them; its README says what each run shows).
//! Each test works on a copy, in a scratch folder that also holds the
//! configuration the runs were recorded with: the absolute `config_path` in
//! the journal names make.sh's scratch folder, so resuming passes `--config`.
//!
//! Never assert today's schema number: only that old journals open.

use crate::support::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const FIXTURES: &str = "tests/fixtures/journals";

/// What the fixture of each version must hold, so that a regenerated
/// fixture cannot quietly lose a case.
const V1_STATUSES: &[&str] = &["completed", "diverged", "failed", "running", "uncertain"];
const V1_KINDS: &[&str] = &["clock", "llm", "log", "random", "tool", "tool-list"];
const WAIT_KINDS: &[&str] = &["approval", "patch", "signal", "timer"];

/// A fixture journal, copied into a scratch folder next to a copy of its
/// configuration (tools write their logs there).
struct OldJournal {
    scratch: Scratch,
    manifest: Value,
}

impl OldJournal {
    fn copy(version: &str) -> OldJournal {
        let dir = root().join(FIXTURES);
        let scratch = Scratch::copy_of(&format!("{FIXTURES}/config"));
        std::fs::copy(dir.join(format!("{version}.db")), scratch.db()).expect("fixture copies");
        let manifest = std::fs::read_to_string(dir.join(format!("{version}.runs.json")))
            .expect("the fixture has its list of runs");
        OldJournal {
            scratch,
            manifest: serde_json::from_str(&manifest).expect("the list of runs is JSON"),
        }
    }

    fn runs(&self) -> &[Value] {
        self.manifest["runs"].as_array().expect("runs is a list")
    }

    /// The id of the run showing `scenario`, if this version has one.
    fn id(&self, scenario: &str) -> Option<String> {
        self.runs()
            .iter()
            .find(|r| r["scenario"] == scenario)
            .map(|r| r["id"].as_str().unwrap().to_string())
    }

    /// `relive --config CONFIG ARGS` on the copy.
    fn relive(&self, config: &str, args: &[&str]) -> std::process::Output {
        self.scratch
            .relive()
            .arg("--config")
            .arg(self.scratch.file(config))
            .args(args)
            .output()
            .expect("relive runs")
    }

    /// `relive runs --json`: run id → the run.
    fn listed(&self) -> BTreeMap<String, Value> {
        let out = self.scratch.run(&["runs", "--json"]);
        assert_code(&out, 0);
        json(&out)
            .as_array()
            .expect("a list of runs")
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_string(), r.clone()))
            .collect()
    }

    /// The steps the `tally` tool ran for `run`, from its execution log.
    fn tallied(&self, run: &str) -> Vec<u64> {
        let prefix = format!("relive-{run}-");
        std::fs::read_to_string(self.scratch.file("tally.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
            .collect()
    }
}

/// Every run is listed with the status the old relive left it in.
fn lists_every_run(j: &OldJournal) {
    let listed = j.listed();
    for run in j.runs() {
        let id = run["id"].as_str().unwrap();
        let found = listed
            .get(id)
            .unwrap_or_else(|| panic!("run {id} ({}) is not listed", run["scenario"]));
        assert_eq!(
            found["status"], run["status"],
            "run {id} ({})",
            run["scenario"]
        );
    }
    assert_eq!(listed.len(), j.runs().len(), "runs listed: {listed:?}");
}

/// `show` (text and JSON) and `export` work for every run and give back
/// every entry, unpacked; returns the kinds of entry seen.
fn shows_and_exports_every_run(j: &OldJournal) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for run in j.runs() {
        let id = run["id"].as_str().unwrap();
        let what = format!("run {id} ({})", run["scenario"]);
        let text = j.scratch.run(&["show", id]);
        assert_code(&text, 0);
        assert!(
            stdout(&text).starts_with(&format!("run {id}")),
            "{what}: {}",
            stdout(&text)
        );

        let shown = j.scratch.run(&["show", id, "--json"]);
        assert_code(&shown, 0);
        let shown = json(&shown);
        let entries = shown["entries"].as_array().unwrap();
        assert_eq!(entries.len() as u64, run["entries"], "{what}");
        assert_eq!(shown["run"]["status"], run["status"], "{what}");
        kinds.extend(
            entries
                .iter()
                .map(|e| e["kind"].as_str().unwrap().to_string()),
        );

        let file = j.scratch.file(&format!("{id}.jsonl"));
        let out = j.scratch.run(&["export", id, "-o", file.to_str().unwrap()]);
        assert_code(&out, 0);
        let exported = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            exported.lines().count(),
            entries.len() + 1,
            "{what}: {exported}"
        );
        assert!(
            exported.starts_with(r#"{"format":"relive-journal""#),
            "{what}"
        );
        assert!(
            !exported.contains("$relive-blob"),
            "{what}: a blob was not unpacked"
        );
    }
    kinds
}

/// Resumes `run` with today's relive and returns its JSON report, which
/// must say `completed`.
fn resume_to_completion(j: &OldJournal, config: &str, run: &str, extra: &[&str]) -> Value {
    let mut args = vec!["resume", run, "--json"];
    args.extend_from_slice(extra);
    let out = j.relive(config, &args);
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["status"], "completed", "{report}");
    report
}

/// Output of the run that showed `scenario`, as recorded.
fn output_of(j: &OldJournal, listed: &BTreeMap<String, Value>, scenario: &str) -> Value {
    let id = j
        .id(scenario)
        .unwrap_or_else(|| panic!("no run shows {scenario}"));
    listed[&id]["output"].clone()
}

/// Every run that can go on does, with today's binary, to the expected
/// end; returns how many were resumed.
fn resumes_what_can_go_on(j: &OldJournal) -> usize {
    let listed = j.listed();
    let mut resumed = 0;

    // Killed while the idempotent tool ran: the steps from the interrupted
    // one on run (once each); the steps before it are replayed.
    for (scenario, steps, from) in [
        ("killed-stepper", 5, 3),
        ("killed-serve", 5, 3),
        ("killed-patched", 5, 4),
    ] {
        let Some(id) = j.id(scenario) else { continue };
        let report = resume_to_completion(j, "relive.toml", &id, &[]);
        let output = report["output"].as_str().unwrap();
        assert!(
            output.starts_with(&format!("steps={steps} digest=")),
            "{scenario}: {output}"
        );
        assert_eq!(
            j.tallied(&id),
            (from..=steps).collect::<Vec<_>>(),
            "{scenario}"
        );
        resumed += 1;
    }

    // Killed during a search: the same answer as the run never killed.
    if let Some(id) = j.id("killed-researcher") {
        let report = resume_to_completion(j, "relive.toml", &id, &[]);
        assert_eq!(
            report["output"],
            output_of(j, &listed, "completed-researcher")
        );
        resumed += 1;
    }

    // Uncertain: an operator supplies the result, and the run goes on
    // under the configuration that declares the tool not idempotent.
    if let Some(id) = j.id("uncertain-stepper") {
        let out = j.relive(
            "uncertain.toml",
            &["resolve", &id, "--result", r#"{"step": 2, "ok": true}"#],
        );
        assert_code(&out, 0);
        let report = resume_to_completion(j, "uncertain.toml", &id, &[]);
        let output = report["output"].as_str().unwrap();
        assert!(output.starts_with("steps=3 digest="), "{output}");
        assert_eq!(
            j.tallied(&id),
            vec![3],
            "step 2 was resolved, not run again"
        );
        resumed += 1;
    }

    // Waits answered by today's relive: the same ends as the runs the old
    // relive answered itself.
    if let Some(id) = j.id("approval-waiting") {
        assert_code(
            &j.relive("relive.toml", &["approve", &id, "--by", "test"]),
            0,
        );
        let report = resume_to_completion(j, "relive.toml", &id, &[]);
        assert_eq!(
            report["output"],
            output_of(j, &listed, "approved-completed")
        );
        let outbox = std::fs::read_to_string(j.scratch.file("outbox.log")).unwrap();
        let sent = outbox.lines().filter(|l| l.contains(&id)).count();
        assert_eq!(sent, 1, "sent once: {outbox}");
        resumed += 1;
    }
    if let Some(id) = j.id("signal-waiting") {
        let out = j.relive(
            "relive.toml",
            &["signal", &id, "go", "--data", r#""ready""#],
        );
        assert_code(&out, 0);
        let report = resume_to_completion(j, "relive.toml", &id, &[]);
        assert_eq!(report["output"], output_of(j, &listed, "signal-completed"));
        resumed += 1;
    }
    if let Some(id) = j.id("timer-sleeping") {
        let report = resume_to_completion(j, "relive.toml", &id, &["--now"]);
        assert_eq!(report["output"], output_of(j, &listed, "timer-completed"));
        resumed += 1;
    }
    resumed
}

/// After all that, the file is a sound SQLite database at a schema at
/// least as new as the one it was written with.
fn journal_is_sound(j: &OldJournal) {
    let conn = rusqlite::Connection::open(j.scratch.db()).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= j.manifest["schema"].as_i64().unwrap());
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let broken: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(broken, 0, "rows pointing at missing rows");
}

/// The whole check of one version's fixture.
fn old_journal_works(version: &str, statuses: &[&str], kinds: &[&str]) {
    let j = OldJournal::copy(version);
    let written: BTreeSet<&str> = j
        .runs()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        written,
        statuses.iter().copied().collect(),
        "statuses in {version}.db"
    );

    lists_every_run(&j);
    let seen = shows_and_exports_every_run(&j);
    assert_eq!(
        seen,
        kinds.iter().map(|k| k.to_string()).collect(),
        "kinds in {version}.db"
    );

    let resumable = j
        .runs()
        .iter()
        .filter(|r| ["running", "suspended", "uncertain"].contains(&r["status"].as_str().unwrap()))
        .count();
    assert_eq!(
        resumes_what_can_go_on(&j),
        resumable,
        "every unfinished run was resumed"
    );
    let listed = j.listed();
    for run in j.runs() {
        let id = run["id"].as_str().unwrap();
        let now = listed[id]["status"].as_str().unwrap();
        let was = run["status"].as_str().unwrap();
        let expected = if ["running", "suspended", "uncertain"].contains(&was) {
            "completed"
        } else {
            was
        };
        assert_eq!(now, expected, "run {id} ({})", run["scenario"]);
    }
    journal_is_sound(&j);
}

fn with_waits(base: &[&'static str], more: &[&'static str]) -> Vec<&'static str> {
    let mut all: Vec<_> = base.iter().chain(more).copied().collect();
    all.sort_unstable();
    all
}

#[test]
fn journal_of_schema_1_works_with_todays_relive() {
    old_journal_works("v1", V1_STATUSES, V1_KINDS);
}

#[test]
fn journal_of_schema_2_works_with_todays_relive() {
    let j = OldJournal::copy("v2");
    assert!(blobs(&j.scratch.db()) > 0, "v2.db holds blobs");
    old_journal_works("v2", V1_STATUSES, V1_KINDS);
}

#[test]
fn journal_of_schema_3_works_with_todays_relive() {
    let j = OldJournal::copy("v3");
    assert!(blobs(&j.scratch.db()) > 0, "v3.db holds blobs");
    retried_attempts_are_shown(&j);
    old_journal_works(
        "v3",
        &with_waits(V1_STATUSES, &["suspended"]),
        &with_waits(V1_KINDS, WAIT_KINDS),
    );
}

#[test]
fn journal_of_schema_4_works_with_todays_relive() {
    let j = OldJournal::copy("v4");
    assert!(blobs(&j.scratch.db()) > 0, "v4.db holds blobs");
    retried_attempts_are_shown(&j);
    leases_were_recorded(&j);
    old_journal_works(
        "v4",
        &with_waits(V1_STATUSES, &["suspended", "cancelled"]),
        &with_waits(V1_KINDS, WAIT_KINDS),
    );
}

/// A journal stamped with a schema newer than any relive knows is refused,
/// with a message that says so, and left as it was.
#[test]
fn journal_of_a_newer_relive_is_refused() {
    let j = OldJournal::copy("v4");
    let future = 1_000_000;
    {
        let conn = rusqlite::Connection::open(j.scratch.db()).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {future}"))
            .unwrap();
    }
    for args in [
        &["runs"][..],
        &["show", &j.id("completed-stepper").unwrap()],
    ] {
        let out = j.scratch.run(args);
        assert_code(&out, 1);
        let text = stderr(&out);
        assert!(text.contains("written by a newer relive"), "{text}");
        assert!(text.contains(&format!("journal schema {future}")), "{text}");
    }
    let conn = rusqlite::Connection::open(j.scratch.db()).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, future, "the journal is not touched");
}

fn blobs(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
        .unwrap()
}

/// The LLM call retried after a 429 and a 500 keeps both failed attempts.
fn retried_attempts_are_shown(j: &OldJournal) {
    let id = j.id("retried-llm").expect("a retried LLM call");
    let shown = json(&j.scratch.run(&["show", &id, "--json"]));
    let llm = shown["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "llm")
        .expect("an llm entry");
    let attempts: Vec<&str> = llm["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["error"].as_str().unwrap())
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts[0].contains("429"), "{attempts:?}");
    assert!(attempts[1].contains("500"), "{attempts:?}");
    let text = stdout(&j.scratch.run(&["show", &id]));
    assert!(text.contains("attempt 1 failed"), "{text}");
}

/// Runs interrupted under v4's leases kept their lease and ready time.
fn leases_were_recorded(j: &OldJournal) {
    let conn = rusqlite::Connection::open(j.scratch.db()).unwrap();
    let id = j
        .id("killed-serve")
        .expect("a run killed under relive serve");
    let (owner, ready): (Option<String>, Option<i64>) = conn
        .query_row(
            "SELECT lease_owner, ready_at FROM runs WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(owner.is_some() && ready.is_some(), "{owner:?} {ready:?}");
}
