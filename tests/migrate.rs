//! `relive migrate` end to end: a real SQLite journal holding runs in every
//! kind of state (completed, failed, cancelled, suspended on an approval,
//! sleeping on a timer; approvals whose long action is stored as a blob)
//! is copied to a throw-away PostgreSQL and back to a new SQLite file with
//! the real binary. What `relive runs`, `show` and `export` print is the
//! same on all three; suspended runs go on on the copies; a second copy
//! into a journal that holds runs is refused; a copy damaged behind the
//! journal's back (an entry or a blob deleted with psql) is caught by
//! `relive migrate --verify-only`, which names the run; and a source whose
//! run a live process executes is refused until that process is gone.

use crate::support::*;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

fn waiter() -> Scratch {
    Scratch::copy_of("tests/guests/waiter")
}

/// `relive ARGS` with its journal at `db` (a path or a URL).
fn on(scratch: &Scratch, db: &str, args: &[&str]) -> Output {
    scratch
        .relive()
        .env("RELIVE_DB", db)
        .args(args)
        .output()
        .unwrap()
}

/// Starts the waiter with `input` (it stops at its first wait or its end);
/// returns the run id.
fn start(scratch: &Scratch, input: &str) -> String {
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("waiter"))
        .args(["--input", input, "--json", "-q"])
        .output()
        .unwrap();
    json(&out)["id"].as_str().unwrap().to_string()
}

fn migrate(scratch: &Scratch, from: &str, to: &str, extra: &[&str]) -> Output {
    scratch
        .relive()
        .args(["migrate", "--from", from, "--to", to])
        .args(extra)
        .output()
        .unwrap()
}

/// An action name long enough that the approval's request is packed and
/// the name stored once as a blob.
fn long_action(tag: &str) -> String {
    format!("{tag}-{}", "x".repeat(3000))
}

/// Runs `sql` on the PostgreSQL journal at `url` with psql.
fn psql(url: &str, sql: &str) -> String {
    let bin = relive::journal::postgres::throwaway::bin_dir()
        .map(|d| d.join("psql"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("psql"));
    let out = std::process::Command::new(bin)
        .args([
            url,
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql failed: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// What the CLI prints about every run of the journal at `db`.
fn views(scratch: &Scratch, db: &str, runs: &[&str]) -> Vec<String> {
    let mut all = vec![stdout(&on(scratch, db, &["runs", "--all", "--json"]))];
    for run in runs {
        for args in [vec!["show", run, "--json", "--full"], vec!["export", run]] {
            let out = on(scratch, db, &args);
            assert_code(&out, 0);
            all.push(stdout(&out));
        }
    }
    all
}

#[test]
fn a_journal_copied_to_postgres_and_back_reads_and_goes_on_the_same() {
    let scratch = waiter();
    let sqlite = scratch.db().display().to_string();
    let waiting = start(&scratch, &format!("approve {}", long_action("wait")));
    let approved = start(&scratch, &format!("approve {}", long_action("done")));
    assert_code(&scratch.run(&["approve", &approved, "--by", "ann"]), 0);
    assert_code(&scratch.run(&["resume", &approved, "-q"]), 0);
    let sleeping = start(&scratch, "sleep 3600000");
    let failed = start(&scratch, "bogus");
    let cancelled = start(&scratch, "signal go");
    assert_code(&scratch.run(&["cancel", &cancelled]), 0);
    let runs = [&waiting, &approved, &sleeping, &failed, &cancelled].map(|s| s.as_str());

    let pg = postgres_url("migrate_there");
    let out = migrate(&scratch, &sqlite, &pg, &[]);
    assert_code(&out, 0);
    assert!(stderr(&out).contains("copied 5/5 runs"), "{}", stderr(&out));
    let table = stdout(&out);
    for row in [
        "runs ",
        "  completed",
        "  suspended",
        "entries",
        "journal digest",
    ] {
        let line = table.lines().find(|l| l.starts_with(row)).unwrap_or("");
        assert!(line.ends_with(" ok"), "row {row:?} is not ok:\n{table}");
    }
    let blobs: i64 = psql(&pg, "SELECT count(*) FROM blobs").parse().unwrap();
    assert!(
        blobs >= 2,
        "the long actions are blobs in PostgreSQL too: {blobs}"
    );

    let back = scratch.file("back.db").display().to_string();
    assert_code(&migrate(&scratch, &pg, &back, &["-q"]), 0);
    let original = views(&scratch, &sqlite, &runs);
    assert_eq!(
        original,
        views(&scratch, &pg, &runs),
        "SQLite and PostgreSQL"
    );
    assert_eq!(
        original,
        views(&scratch, &back, &runs),
        "SQLite and its round trip"
    );
    let check = migrate(&scratch, &sqlite, &back, &["--verify-only", "--json"]);
    assert_code(&check, 0);
    let check = json(&check);
    assert_eq!(check["ok"], true);
    assert_eq!(check["source"]["digest"], check["destination"]["digest"]);
    assert_eq!(check["destination"]["runs"], 5);

    // A copy goes into an empty journal only.
    let again = migrate(&scratch, &sqlite, &pg, &[]);
    assert_code(&again, 1);
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );

    // The suspended runs go on on the copies.
    assert_code(&on(&scratch, &pg, &["approve", &waiting]), 0);
    let resumed = on(&scratch, &pg, &["resume", &waiting, "--json", "-q"]);
    assert_code(&resumed, 0);
    assert_eq!(json(&resumed)["output"], "approved");
    let woken = on(
        &scratch,
        &back,
        &["resume", &sleeping, "--now", "--json", "-q"],
    );
    assert_code(&woken, 0);
    assert_eq!(json(&woken)["output"], "slept");
    assert_code(
        &on(&scratch, &back, &["reject", &waiting, "--reason", "no"]),
        0,
    );
    let rejected = on(&scratch, &back, &["resume", &waiting, "--json", "-q"]);
    assert_eq!(json(&rejected)["output"], "rejected: no");

    // And now the copies differ from their source, run by run.
    let check = migrate(&scratch, &sqlite, &pg, &["--verify-only", "-q"]);
    assert_code(&check, 1);
    assert!(
        stderr(&check).contains(&format!("run {waiting}")),
        "{}",
        stderr(&check)
    );
    assert!(
        !stderr(&check).contains(&format!("run {sleeping}")),
        "{}",
        stderr(&check)
    );
}

#[test]
fn a_copy_damaged_behind_the_journals_back_is_caught_and_the_run_named() {
    let scratch = waiter();
    let sqlite = scratch.db().display().to_string();
    let sleeping = start(&scratch, "sleep 3600000");
    let waiting = start(&scratch, &format!("approve {}", long_action("blob")));
    let failed = start(&scratch, "bogus");
    let pg = postgres_url("migrate_damaged");
    assert_code(&migrate(&scratch, &sqlite, &pg, &["-q"]), 0);
    assert_code(
        &migrate(&scratch, &sqlite, &pg, &["--verify-only", "-q"]),
        0,
    );

    // An entry deleted: the run is named, and which entry.
    psql(
        &pg,
        &format!("DELETE FROM entries WHERE run_id = '{sleeping}' AND seq = 1"),
    );
    let out = migrate(&scratch, &sqlite, &pg, &["--verify-only"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: the destination differs from the source: run {sleeping}"
        )),
        "{err}"
    );
    let table = stdout(&out);
    let entries = table.lines().find(|l| l.starts_with("entries")).unwrap();
    assert!(entries.ends_with("DIFFERS"), "{table}");
    assert!(!err.contains(&format!("run {failed}")), "{err}");

    // A blob deleted: the run whose entry needs it is named too.
    psql(&pg, "DELETE FROM blobs");
    let out = migrate(&scratch, &sqlite, &pg, &["--verify-only", "--json", "-q"]);
    assert_code(&out, 1);
    let report = json(&out);
    assert_eq!(report["ok"], false);
    let named: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["run"].as_str().unwrap())
        .collect();
    assert_eq!(named.len(), 2, "{report}");
    assert!(named.contains(&sleeping.as_str()) && named.contains(&waiting.as_str()));
    assert!(stderr(&out).contains("is missing"), "{}", stderr(&out));
}

#[test]
fn a_source_whose_run_a_live_process_executes_is_refused() {
    let scratch = waiter();
    let sqlite = scratch.db().display().to_string();
    // `nap` sleeps inside the guest: the process holds the run's lease.
    let mut child = scratch
        .relive()
        .arg("run")
        .arg(guest("waiter"))
        .args(["--input", "nap 60000 go", "-q"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stdout(&scratch.run(&["runs", "--json"])).contains("running") {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let to = scratch.file("copy.db").display().to_string();
    let out = migrate(&scratch, &sqlite, &to, &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("being executed by live relive processes"),
        "{err}"
    );
    assert!(err.contains(&format!("(pid {})", child.id())), "{err}");
    assert!(!scratch.file("copy.db").exists(), "nothing was created");
    // Its process is gone (killed on this machine): the copy goes ahead.
    let out = migrate(&scratch, &sqlite, &to, &["-q"]);
    assert_code(&out, 0);
}
