//! h, continued: `relive serve` with 1, 2 and 3 processes sharing one
//! PostgreSQL database, and 1 process on SQLite for reference.
//!
//! The workload is section f's: [`RUNS`] runs of the `steps` agent, each
//! making [`LLM_CALLS`] calls to the LLM test server (answering after
//! [`LLM_DELAY`]), created at once through the services' APIs in turn
//! (round-robin). The services share the database: a run created through
//! one may be executed by another (claims with SKIP LOCKED, NOTIFY
//! wake-ups). Reported per process count: runs per second (first POST to
//! the last run final) and the p50/p99 end-to-end time of a run (its
//! `created_at` to its final `updated_at`, both written by the services).

use crate::report::{Figure, Unit};
use crate::sections::serve::{
    CLIENTS, LLM_CALLS, LLM_DELAY, LOAD_LIMIT, Service, config_with_model, percentile, start_llm,
    submit,
};
use crate::setup::{Bench, input, ms};
use anyhow::{Context as _, bail, ensure};
use relive::journal::postgres::throwaway::schema_url;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Runs per load.
const RUNS: usize = 600;
/// The process counts measured on PostgreSQL.
const PROCESSES: [usize; 3] = [1, 2, 3];
/// The statuses a run ends in.
const FINAL: &str = "'completed','failed','diverged','cancelled','uncertain'";

/// Where the services' runs are read from, to see them end.
enum Watch {
    Sqlite(PathBuf),
    Postgres(tokio_postgres::Client),
}

impl Watch {
    /// (runs final, runs completed) of those created at or after `since`.
    fn counts(&self, bench: &Bench, since: i64) -> anyhow::Result<(usize, usize)> {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE status IN ({FINAL})), count(*) FILTER (WHERE status = 'completed') FROM runs WHERE created_at >= $1"
        );
        let (done, completed): (i64, i64) = match self {
            Watch::Sqlite(db) => rusqlite::Connection::open_with_flags(
                db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?
            .query_row(&sql.replace("$1", "?1"), [since], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?,
            Watch::Postgres(client) => {
                let row = bench.rt.block_on(client.query_one(&sql, &[&since]))?;
                (row.get(0), row.get(1))
            }
        };
        Ok((done as usize, completed as usize))
    }

    /// Each run's created_at → updated_at (ms), of those created at or
    /// after `since`.
    fn times(&self, bench: &Bench, since: i64) -> anyhow::Result<Vec<f64>> {
        let sql = "SELECT updated_at - created_at FROM runs WHERE created_at >= $1";
        let times: Vec<i64> = match self {
            Watch::Sqlite(db) => {
                let conn = rusqlite::Connection::open_with_flags(
                    db,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )?;
                let mut stmt = conn.prepare(&sql.replace("$1", "?1"))?;
                stmt.query_map([since], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            }
            Watch::Postgres(client) => bench
                .rt
                .block_on(client.query(sql, &[&since]))?
                .iter()
                .map(|r| r.get(0))
                .collect(),
        };
        Ok(times.into_iter().map(|t| t as f64).collect())
    }

    /// Waits until `n` runs created at or after `since` are final; fails
    /// if one did not complete.
    fn wait(&self, bench: &Bench, since: i64, n: usize) -> anyhow::Result<()> {
        let give_up = Instant::now() + LOAD_LIMIT;
        loop {
            let (done, completed) = self.counts(bench, since)?;
            if done >= n {
                ensure!(
                    completed >= n,
                    "{} of {n} runs did not complete",
                    n - completed
                );
                return Ok(());
            }
            if Instant::now() > give_up {
                bail!("{done} of {n} runs ended within {LOAD_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The samples of one configuration.
#[derive(Default)]
struct Load {
    rate: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    /// Share of the machine's CPU time that was busy during each load (%).
    busy: Vec<f64>,
    /// Share of that busy time that the serve processes used (%).
    services: Vec<f64>,
}

/// (busy, total) CPU time of the machine so far, in clock ticks, from the
/// first line of /proc/stat (idle and iowait are not busy).
fn cpu_ticks() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .context("/proc/stat is empty")?
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    ensure!(ticks.len() >= 5, "/proc/stat: no CPU line");
    let total: u64 = ticks.iter().take(8).sum();
    Ok((total - ticks[3] - ticks[4], total))
}

/// The runs of a phase: those created from now on (the previous phase
/// ended, and the clock moves on a millisecond first).
fn since_now() -> i64 {
    std::thread::sleep(Duration::from_millis(5));
    relive::journal::now_ms() as i64
}

/// CPU time of the services so far, in clock ticks.
fn services_ticks(services: &[Service]) -> anyhow::Result<u64> {
    services.iter().map(Service::cpu_ticks).sum()
}

/// One warm-up run per service, then `reps` loads of [`RUNS`] runs.
fn measure(
    bench: &Bench,
    client: &reqwest::Client,
    services: &[Service],
    watch: &Watch,
) -> anyhow::Result<Load> {
    let bases: Vec<String> = services.iter().map(|s| s.base.clone()).collect();
    let since = since_now();
    let warm: Vec<String> = (0..bases.len()).map(|i| format!("warm-{i}")).collect();
    bench
        .rt
        .block_on(submit(client, &bases, &warm, |_| input(1, "llm")))?;
    watch.wait(bench, since, warm.len())?;
    std::thread::sleep(Duration::from_millis(300));
    let mut load = Load::default();
    for rep in 0..bench.reps.clamp(1, 3) {
        let names: Vec<String> = (0..RUNS).map(|i| format!("load-{rep}-{i}")).collect();
        let since = since_now();
        let cpu = cpu_ticks()?;
        let served = services_ticks(services)?;
        let begun = Instant::now();
        bench
            .rt
            .block_on(submit(client, &bases, &names, |_| input(LLM_CALLS, "llm")))?;
        watch.wait(bench, since, RUNS)?;
        let took = begun.elapsed();
        let (busy, total) = cpu_ticks()?;
        let busy = (busy - cpu.0).max(1) as f64;
        load.busy.push(100.0 * busy / (total - cpu.1).max(1) as f64);
        load.services
            .push(100.0 * (services_ticks(services)? - served) as f64 / busy);
        let times = watch.times(bench, since)?;
        ensure!(times.len() == RUNS, "{} runs in the load", times.len());
        load.rate.push(RUNS as f64 / took.as_secs_f64());
        load.p50.push(percentile(&times, 0.50));
        load.p99.push(percentile(&times, 0.99));
    }
    Ok(load)
}

pub fn run(bench: &mut Bench, server: &str) -> anyhow::Result<(Vec<Figure>, Vec<String>)> {
    let bin = bench.relive_binary()?;
    let (llm, llm_url, llm_task) = start_llm(bench)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let reps = bench.reps.clamp(1, 3);
    let expected = |n: usize| n + reps * RUNS * LLM_CALLS as usize;

    let db = bench.scratch("pg-serve-sqlite.db");
    let config = config_with_model(bench, "pg-serve-sqlite", &db, &llm_url)?;
    let before = llm.requests.load(Ordering::Relaxed);
    let services = vec![Service::start(&bin, &config, &db)?];
    let sqlite = measure(bench, &client, &services, &Watch::Sqlite(db))?;
    drop(services);
    check_requests(&llm.requests, before, expected(1))?;

    let mut loads = Vec::new();
    for n in PROCESSES {
        let url = schema_url(server, &format!("serve_{n}"))?;
        let unused = bench.scratch(&format!("pg-serve-{n}.db"));
        let config = config_with_model(bench, &format!("pg-serve-{n}"), &unused, &llm_url)?;
        let before = llm.requests.load(Ordering::Relaxed);
        // One after another: the first creates the schema's tables.
        let services = (0..n)
            .map(|_| Service::start(&bin, &config, &url))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let watch = Watch::Postgres(connect(bench, &url)?);
        let load = measure(bench, &client, &services, &watch)
            .with_context(|| format!("{n} processes on PostgreSQL"))?;
        drop(services);
        check_requests(&llm.requests, before, expected(n))?;
        loads.push((n, load));
    }
    llm_task.abort();
    Ok(figures(sqlite, loads))
}

/// Fails unless the LLM test server saw `expected` requests since `before`
/// (each call made exactly once, whichever process ran it).
fn check_requests(
    requests: &std::sync::atomic::AtomicUsize,
    before: usize,
    expected: usize,
) -> anyhow::Result<()> {
    let seen = requests.load(Ordering::Relaxed) - before;
    ensure!(
        seen == expected,
        "the LLM test server saw {seen} requests, expected {expected}"
    );
    Ok(())
}

fn connect(bench: &Bench, url: &str) -> anyhow::Result<tokio_postgres::Client> {
    bench.rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        tokio::spawn(connection);
        Ok(client)
    })
}

/// The floors, then the rate and p50/p99 of each configuration.
fn figures(sqlite: Load, loads: Vec<(usize, Load)>) -> (Vec<Figure>, Vec<String>) {
    let ideal = LLM_CALLS as f64 * ms(LLM_DELAY);
    let rate_floor = Figure::floor(
        "postgres.serve_ideal_rate",
        &format!("ideal: {RUNS} runs at once, LLM latency only (runs/s)"),
        Unit::PerSec,
        vec![RUNS as f64 / (ideal / 1000.0)],
    );
    let latency_floor = Figure::floor(
        "postgres.serve_llm_latency",
        &format!(
            "LLM latency alone: {LLM_CALLS} calls × {} ms",
            ms(LLM_DELAY)
        ),
        Unit::Ms,
        vec![ideal],
    );
    let mut figures = Vec::new();
    let mut busy = Vec::new();
    let mut add = |key: &str, what: &str, load: Load| {
        busy.push(format!(
            "{what} {:.0}% busy, {:.0}% of it in relive serve",
            crate::report::median(&load.busy),
            crate::report::median(&load.services)
        ));
        figures.push(
            Figure::relive(
                &format!("postgres.serve_{key}_rate"),
                &format!("{what}: runs per second"),
                Unit::PerSec,
                load.rate,
            )
            .versus(&rate_floor, "vs ideal"),
        );
        for (q, samples) in [("p50", load.p50), ("p99", load.p99)] {
            figures.push(
                Figure::relive(
                    &format!("postgres.serve_{key}_{q}"),
                    &format!("  end-to-end time per run, {q}"),
                    Unit::Ms,
                    samples,
                )
                .versus(&latency_floor, "vs LLM latency"),
            );
        }
    };
    add("sqlite", "1 process on SQLite (reference)", sqlite);
    for (n, load) in loads {
        let what = format!(
            "{n} process{} on PostgreSQL",
            if n == 1 { "" } else { "es" }
        );
        add(&format!("pg{n}"), &what, load);
    }
    let mut all = vec![rate_floor, latency_floor];
    all.extend(figures);
    let notes = vec![
        format!(
            "CPU during the loads (the whole machine's, both cores, median; the rest is PostgreSQL, the LLM server, this client and anything else running): {}",
            busy.join("; ")
        ),
        format!(
            "serve: {RUNS} runs per load, created at once through the processes' APIs in turn ({CLIENTS} client connections), each `steps` with {{\"kind\":\"llm\",\"steps\":{LLM_CALLS}}}; the PostgreSQL processes share one database (a schema per process count)"
        ),
        "one 2-core machine: the serve processes, PostgreSQL, the LLM test server and this client share the same 2 cores, so the process counts show the shape of scaling, not capacity".to_string(),
    ];
    (all, notes)
}
