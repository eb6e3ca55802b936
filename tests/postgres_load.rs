//! Three `relive serve` processes on one PostgreSQL journal, under load:
//! researcher runs (four LLM calls to a test server on 127.0.0.1 and three
//! calls of the idempotent tool `search` each). During the load the
//! busiest service gets SIGKILL, and the busier of the two others SIGSTOP
//! until every lease it held was taken over by the last one (on the
//! database's clock), then SIGCONT: its late writes must be refused.
//!
//! A fifth of the runs are created through the three APIs, the rest
//! written into the journal (creating 500 runs over HTTP on a saturated
//! 2-core machine takes longer than running them, so there would be no
//! backlog to disrupt): the services race to claim them. Three fifths come
//! first; the last two fifths are written once the SIGKILL is done, so the
//! SIGSTOP always meets a backlog (a clean-clone CI run once found no
//! service holding a run for it, most likely because the load had ended
//! while the test read the journal after the kill).
//!
//! Then: every run completed, with the output a replay of its journal
//! gives; every tool call of a run that no disruption touched ran exactly
//! once; a call completed before a disruption never ran again; a call of a
//! disrupted run ran at most once more per disruption; and the stopped
//! service's writes after the takeover were refused (its log says so).
//!
//! 500 runs, as issue 18 asks: about a minute on 2 busy cores in a debug
//! build. `RELIVE_PG_LOAD_RUNS` sets another number. The whole test must
//! end within [`DEADLINE`], and every process it started is stopped
//! whatever happens (`Served` kills its process when dropped, a stopped
//! one too).

use crate::serve::{Llm, Served, http, researcher_scratch, signal};
use crate::support::*;
use relive::journal::export::JournalFile;
use relive::journal::{EntryKind, EntryState, Journal, NewRun, RunStatus};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Runs of the test; `RELIVE_PG_LOAD_RUNS` overrides it.
const DEFAULT_RUNS: usize = 500;
/// How long the whole test may take, from the start of the services to
/// the last run final.
const DEADLINE: Duration = Duration::from_secs(360);
/// LLM calls per researcher run.
const LLM_CALLS: usize = 4;
/// Tool calls per researcher run.
const TOOL_CALLS: usize = 3;
/// Lease time of the services: how long a stopped service's runs wait.
const LEASE_TTL_MS: &str = "2000";
/// Most runs each service executes at once.
const MAX_RUNS: &str = "40";

fn runs_wanted() -> usize {
    std::env::var("RELIVE_PG_LOAD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RUNS)
}

/// Waits until `done` holds, checking every 20 ms; panics at `deadline`.
fn wait_until(what: &str, deadline: Instant, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within the test's deadline of {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What was so at a disruption: the tool calls completed in the journal,
/// and how often each had run (the tool's log).
struct Snapshot {
    completed: HashSet<String>,
    ran: HashMap<String, usize>,
}

fn snapshot(journal: &dyn Journal, ids: &[String], log: &std::path::Path) -> Snapshot {
    let mut completed = HashSet::new();
    for id in ids {
        for e in journal.entries(id).unwrap() {
            if e.kind == EntryKind::Tool && e.state == EntryState::Completed {
                completed.insert(relive::engine::idempotency_key(id, e.seq));
            }
        }
    }
    // Read after the journal: a call completed there has run already. And
    // read a while later: a tool process started before (by the stopped or
    // killed service, whose call was then run again elsewhere) logs its
    // start a little late.
    std::thread::sleep(Duration::from_secs(3));
    Snapshot {
        completed,
        ran: first_word_counts(log),
    }
}

/// The runs the process `pid` holds a lease on (asked from 8 threads: a
/// lease of a stopped process may be taken over within its TTL).
fn runs_leased_by(journal: &dyn Journal, ids: &[String], pid: u32) -> HashSet<String> {
    let owner_is_pid = |owner: &str| {
        journal
            .instance(owner)
            .unwrap()
            .is_some_and(|i| i.pid == pid)
    };
    std::thread::scope(|scope| {
        let threads: Vec<_> = ids
            .chunks(ids.len().div_ceil(8).max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter(|id| {
                            journal
                                .lease(id)
                                .unwrap()
                                .is_some_and(|lease| owner_is_pid(&lease.owner))
                        })
                        .cloned()
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    })
}

/// The lines of the services' logs that name `run`, each with its
/// service's pid.
fn mentions<'a>(services: impl Iterator<Item = &'a Served>, run: &str) -> String {
    services
        .flat_map(|s| {
            let pid = s.pid_or_zero();
            s.log()
                .lines()
                .filter(|l| l.contains(run))
                .map(|l| format!("[{pid}] {l}"))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The service holding the most runs, and those runs, as soon as one
/// holds any (the load may be between claims when asked).
fn busiest(
    journal: &dyn Journal,
    ids: &[String],
    services: &[Served],
    deadline: Instant,
) -> (usize, HashSet<String>) {
    loop {
        let held: Vec<HashSet<String>> = services
            .iter()
            .map(|s| runs_leased_by(journal, ids, s.pid()))
            .collect();
        let (i, runs) = held
            .into_iter()
            .enumerate()
            .max_by_key(|(_, h)| h.len())
            .unwrap();
        if !runs.is_empty() {
            return (i, runs);
        }
        if Instant::now() >= deadline {
            panic!(
                "no service held a run within the test's deadline of {DEADLINE:?}\n{}",
                state(journal, ids, services)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the load looks like, for a failure's message: the runs by
/// status, the lease owners, and the end of each service's log.
fn state(journal: &dyn Journal, ids: &[String], services: &[Served]) -> String {
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for id in ids {
        let status = journal.find_run(id).unwrap().status;
        *statuses.entry(status.to_string()).or_default() += 1;
    }
    let owners: Vec<String> = journal
        .lease_owners()
        .unwrap()
        .iter()
        .map(|o| match journal.instance(o).unwrap() {
            Some(i) => format!("{o} (pid {})", i.pid),
            None => o.clone(),
        })
        .collect();
    let logs: Vec<String> = services
        .iter()
        .map(|s| {
            let log = s.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("service {}:\n{}", s.pid_or_zero(), tail.join("\n"))
        })
        .collect();
    format!(
        "runs by status: {statuses:?}\nlease owners: {owners:?}\n{}",
        logs.join("\n")
    )
}

fn holds_leases(journal: &dyn Journal, pid: u32) -> bool {
    journal
        .lease_owners()
        .unwrap()
        .iter()
        .any(|o| journal.instance(o).unwrap().is_some_and(|i| i.pid == pid))
}

/// Creates `n` runs: `through_api` of them through the services' APIs
/// (from several threads), the rest in the journal directly. Returns their
/// ids.
fn create_runs(
    journal: &dyn Journal,
    services: &[Served],
    n: usize,
    through_api: usize,
) -> Vec<String> {
    let bases: Vec<String> = services.iter().map(|s| s.base.clone()).collect();
    let mut ids: Vec<String> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let bases = &bases;
                scope.spawn(move || {
                    (t..through_api)
                        .step_by(8)
                        .map(|i| {
                            let url = format!("{}/v1/runs", bases[i % bases.len()]);
                            let body =
                                json!({ "agent": "researcher", "input": format!("question {i}") });
                            let (code, run) = http("POST", &url, Some(body), None);
                            assert_eq!(code, 201, "{run}");
                            run["id"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let digest = relive::journal::component_digest(&std::fs::read(guest("researcher")).unwrap());
    let commits: Vec<_> = (through_api..n)
        .map(|i| {
            let id = relive::journal::new_run_id();
            ids.push(id.clone());
            journal.create_run(NewRun {
                id,
                agent: "researcher".into(),
                component_digest: digest.clone(),
                input: format!("question {i}"),
                config_path: None,
                policy: None,
                parent: None,
                lease: None,
            })
        })
        .collect();
    for commit in commits {
        commit.wait_blocking().unwrap();
    }
    ids
}

#[test]
fn three_services_survive_sigkill_and_sigstop_under_load() {
    let runs = runs_wanted();
    let begun = Instant::now();
    let llm = Arc::new(Llm::default());
    let scratch = researcher_scratch(llm.clone()).on_postgres("load");
    let search_log = scratch.file("search.log");
    let env = [
        ("SEARCH_LOG", search_log.to_str().unwrap()),
        ("RELIVE_LEASE_TTL_MS", LEASE_TTL_MS),
    ];
    let mut services: Vec<Served> = (0..3)
        .map(|_| Served::start(&scratch, &["--max-runs", MAX_RUNS], &env))
        .collect();
    let journal = scratch.journal();
    // Three fifths of the runs now (a third of those through the APIs);
    // the rest once the first disruption is done, so that the second one
    // always meets a backlog, however fast the load went meanwhile.
    let first = runs * 3 / 5;
    let mut ids = create_runs(&*journal, &services, first, runs / 5);
    let calls = |share: usize| runs * LLM_CALLS * share / 100;
    let load = begun + DEADLINE;

    // SIGKILL of the busiest service once a quarter of the LLM calls were
    // answered (and it holds runs).
    wait_until("a quarter of the load", load, || {
        llm.requests.load(Ordering::Relaxed) >= calls(25)
    });
    let (victim, mut killed_runs) = busiest(&*journal, &ids, &services, load);
    let victim_pid = services[victim].pid();
    // Stopped first, so that it claims nothing more while its leases are
    // read; then killed (SIGKILL works on a stopped process).
    signal(victim_pid, "STOP");
    killed_runs.extend(runs_leased_by(&*journal, &ids, victim_pid));
    services[victim].kill9();
    let killed = services.remove(victim);
    // A call completed in the journal once the kill was done never runs
    // again.
    let at_kill = snapshot(&*journal, &ids, &search_log);

    // The other two fifths; then SIGSTOP of the busier of the two others
    // (once one holds runs); SIGCONT once the other took every run it held.
    ids.extend(create_runs(&*journal, &services, runs - first, 0));
    let (paused, mut stopped_runs) = busiest(&*journal, &ids, &services, load);
    let going = 1 - paused;
    let stopped = services[paused].pid();
    signal(stopped, "STOP");
    let stopped_at = Instant::now();
    stopped_runs.extend(runs_leased_by(&*journal, &ids, stopped));
    // A call completed in the journal once the service was stopped never
    // runs again (its lease is taken over only after the lease time).
    let at_stop = snapshot(&*journal, &ids, &search_log);
    wait_until("the stopped service's leases taken over", load, || {
        !holds_leases(&*journal, stopped)
    });
    let takeover = stopped_at.elapsed();
    signal(stopped, "CONT");

    // Every run ends.
    wait_until("every run final", load, || {
        ids.iter()
            .all(|id| journal.find_run(id).unwrap().status.is_final())
    });
    let elapsed = begun.elapsed();
    // The stopped service goes on: it still answers, and its writes for
    // the runs it lost were refused.
    std::thread::sleep(Duration::from_millis(500));
    let (code, _) = http("GET", &services[paused].url("/healthz"), None, None);
    assert_eq!(code, 200, "{}", services[paused].log());
    let refused = services[paused]
        .log()
        .matches("its lease was taken over")
        .count();

    // 1. Every run completed, with the output a replay of its journal
    //    gives (one runtime replays them all: the component compiles once).
    let component = guest("researcher");
    let bytes = std::fs::read(&component).unwrap();
    let replayer = relive::testing::Replayer::new().unwrap();
    for id in &ids {
        let run = journal.find_run(id).unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        let file = JournalFile {
            entries: journal.entries(id).unwrap(),
            run,
        };
        let report = replayer
            .replay(&component.display().to_string(), &bytes, &file)
            .unwrap();
        assert!(
            relive::testing::passed(&report, &file),
            "run {id}: {}",
            relive::testing::explain(&report)
        );
    }

    // 2. Tool calls. A run is disrupted if the killed or the stopped
    //    service executed it then, or if a live service lost it to a
    //    takeover (under load, a lease can expire before it is renewed:
    //    the service's log says "stopped here"). A call in flight in a
    //    process that lost the run is run again by the process that takes
    //    it over (the tool is idempotent; the key is the same).
    let mut disrupted: HashSet<String> = killed_runs.union(&stopped_runs).cloned().collect();
    for s in services.iter().chain([&killed]) {
        for line in s.log().lines() {
            if let Some(rest) = line.strip_prefix("relive: run ")
                && let Some((id, _)) = rest.split_once(" stopped here")
            {
                disrupted.insert(id.to_string());
            }
        }
    }
    let renewals_failed: usize = services
        .iter()
        .chain([&killed])
        .map(|s| s.log().matches("cannot renew run leases").count())
        .sum();
    let counts = first_word_counts(&search_log);
    let mut recorded = HashSet::new();
    let mut again = 0;
    for id in &ids {
        for e in journal.entries(id).unwrap() {
            if e.kind != EntryKind::Tool {
                continue;
            }
            let key = relive::engine::idempotency_key(id, e.seq);
            let n = counts.get(&key).copied().unwrap_or(0);
            for (when, at) in [("kill", &at_kill), ("stop", &at_stop)] {
                if at.completed.contains(&key) {
                    assert_eq!(
                        Some(&n),
                        at.ran.get(&key),
                        "tool call {key} was completed at the {when} and ran again after it"
                    );
                }
            }
            if disrupted.contains(id) {
                assert!((1..=3).contains(&n), "tool call {key} ran {n} times");
            } else {
                assert_eq!(
                    n,
                    1,
                    "tool call {key} of an undisturbed run ran {n} times; the services said:\n{}",
                    mentions(services.iter().chain([&killed]), id)
                );
            }
            again += n - 1;
            recorded.insert(key);
        }
    }
    assert_eq!(recorded.len(), runs * TOOL_CALLS);
    let stray: Vec<&String> = counts.keys().filter(|k| !recorded.contains(*k)).collect();
    assert!(
        stray.is_empty(),
        "the tool ran for calls no journal holds: {stray:?}"
    );

    // 3. The disruptions hit runs in flight, and the stopped service's late
    //    writes were refused.
    eprintln!(
        "pg load: {runs} runs on 3 services in {:.1} s; SIGKILL hit {} runs, SIGSTOP {} (taken over after {:.1} s; {refused} late writes refused); {} runs disrupted in all ({renewals_failed} lease renewals failed); {again} tool calls ran again",
        elapsed.as_secs_f64(),
        killed_runs.len(),
        stopped_runs.len(),
        takeover.as_secs_f64(),
        disrupted.len(),
    );
    assert!(!killed_runs.is_empty(), "the killed service held no run");
    assert!(!stopped_runs.is_empty(), "the stopped service held no run");
    assert!(
        refused > 0,
        "the stopped service wrote nothing after its takeover? log:\n{}",
        services[paused].log()
    );
    assert!(services[going].log().contains("serving on"));
    // A fenced write is refused before it reaches a table: no service ever
    // ran into one of the journal's constraints (a stale write would, as
    // its entry's place was taken by the new executor's).
    let violations: Vec<String> = services
        .iter()
        .chain([&killed])
        .flat_map(|s| s.log().lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.contains("violates"))
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
    drop(killed);
    services.clear();
}
