//! f. `relive serve` under load: the real binary, 1,000 runs submitted at
//! once through the HTTP API, each making [`LLM_CALLS`] calls to an
//! OpenAI-compatible test server on 127.0.0.1 that answers after
//! [`LLM_DELAY`]; then 1,000 runs suspended on a signal, and woken.
//!
//! Reported: runs per second (first submission to last completion), the
//! median and p99 end-to-end time of a run (its `created_at` to its final
//! `updated_at` in the journal, both written by the service), and resident
//! memory (VmRSS of the service) per active run — the peak during the load
//! over the most LLM requests in flight at once — and per suspended run.
//! The floors are what the LLM's latency alone allows: every run at once,
//! [`LLM_CALLS`] × [`LLM_DELAY`] each.

use crate::Outcome;
use crate::report::{Figure, Unit};
use crate::setup::{Bench, ms, relive};
use anyhow::{Context as _, anyhow, bail, ensure};
use futures_util::StreamExt as _;
use relive::config::FsyncPolicy;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Runs per load.
pub const RUNS: usize = 1_000;
/// LLM calls per run.
pub const LLM_CALLS: u64 = 2;
/// How long the test LLM takes to answer.
pub const LLM_DELAY: Duration = Duration::from_millis(100);
/// Bound on one load (submission to the last completion).
pub const LOAD_LIMIT: Duration = Duration::from_secs(120);
/// Concurrent HTTP requests of the client that submits the runs.
pub const CLIENTS: usize = 64;

/// The LLM test server's counters.
#[derive(Default)]
pub struct Llm {
    in_flight: AtomicUsize,
    pub peak: AtomicUsize,
    pub requests: AtomicUsize,
}

/// Starts the LLM test server on 127.0.0.1 (a task of `bench.rt`): its
/// counters, its URL, and the task to abort at the end.
pub fn start_llm(bench: &Bench) -> anyhow::Result<(Arc<Llm>, String, tokio::task::JoinHandle<()>)> {
    let llm = Arc::new(Llm::default());
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state(llm.clone());
    let listener = bench
        .rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let llm_url = format!("http://{}", listener.local_addr()?);
    let server = bench.rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((llm, llm_url, server))
}

async fn completions(
    axum::extract::State(llm): axum::extract::State<Arc<Llm>>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    let now = llm.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    llm.peak.fetch_max(now, Ordering::SeqCst);
    llm.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(LLM_DELAY).await;
    llm.in_flight.fetch_sub(1, Ordering::SeqCst);
    let asked = body["messages"][0]["content"].as_str().unwrap_or_default();
    axum::Json(json!({
        "id": "chatcmpl-bench",
        "model": "bench-model",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": format!("answer to {asked}") },
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": 8, "completion_tokens": 4 }
    }))
}

/// A running `relive serve`; SIGTERM (then SIGKILL) on drop.
pub struct Service {
    child: Option<Child>,
    pub base: String,
    pid: u32,
}

impl Service {
    /// `relive serve` of `config` on the journal `db` (a path or a
    /// `postgres://` URL).
    pub fn start(bin: &Path, config: &Path, db: impl AsRef<OsStr>) -> anyhow::Result<Service> {
        let mut child = relive(bin)
            .arg("--config")
            .arg(config)
            .arg("--db")
            .arg(db.as_ref())
            .args(["serve", "--listen", "127.0.0.1:0", "--max-runs"])
            .arg(RUNS.to_string())
            .args(["--grace-secs", "5"])
            .env_remove("RELIVE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start relive serve")?;
        let pid = child.id();
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("serving on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
                } else if line.contains("error") || line.contains("warning") {
                    eprintln!("   (relive serve) {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| anyhow!("relive serve did not start listening within 60 s"))?;
        Ok(Service {
            child: Some(child),
            base: format!("http://{addr}"),
            pid,
        })
    }

    fn rss_mib(&self) -> anyhow::Result<f64> {
        rss_mib(self.pid)
    }

    /// CPU time the service used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> anyhow::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // After the command name in parentheses: state is field 3, utime
        // and stime are fields 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let tick = |i: usize| fields.get(i).and_then(|t| t.parse::<u64>().ok());
        tick(11)
            .zip(tick(12))
            .map(|(user, system)| user + system)
            .ok_or_else(|| anyhow!("no CPU times in /proc/{}/stat", self.pid))
    }

    /// SIGTERM, bounded wait, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let give_up = Instant::now() + Duration::from_secs(15);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// VmRSS of `pid` in MiB.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

/// bench/steps.toml (as `Bench::config` makes it) with a model `bench` at
/// `llm_url` as the agent's only model.
pub fn config_with_model(
    bench: &mut Bench,
    name: &str,
    db: &Path,
    llm_url: &str,
) -> anyhow::Result<PathBuf> {
    let path = bench
        .config(name, FsyncPolicy::Critical, db)?
        .source
        .context("the bench config has a file")?;
    let mut doc: toml::Table = std::fs::read_to_string(&path)?.parse()?;
    let model: toml::Table = toml::from_str(&format!(
        "provider = \"openai\"\nbase_url = \"{llm_url}/v1\"\nmodel = \"bench-model\"\nstream = false\nmax_attempts = 1\ntimeout_secs = 60\n"
    ))?;
    let mut models = toml::Table::new();
    models.insert("bench".into(), model.into());
    doc.insert("models".into(), models.into());
    doc.get_mut("agents")
        .and_then(|a| a.get_mut(crate::setup::AGENT))
        .and_then(toml::Value::as_table_mut)
        .context("bench/steps.toml has no [agents.steps]")?
        .insert("models".into(), toml::Value::Array(vec!["bench".into()]));
    std::fs::write(&path, toml::to_string(&doc)?)?;
    Ok(path)
}

pub fn run(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let bin = bench.relive_binary()?;
    let (llm, llm_url, server) = start_llm(bench)?;

    let db = bench.scratch("serve.db");
    let config = config_with_model(bench, "serve", &db, &llm_url)?;
    let mut service = Service::start(&bin, &config, &db)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let base = service.base.clone();

    // Warm-up: the component is compiled (or read from the cache) and
    // instantiated once before anything is measured.
    let warm = Batch::starting_now(1);
    bench.rt.block_on(submit(
        &client,
        std::slice::from_ref(&base),
        &["warm-up".into()],
        |_| crate::setup::input(1, "llm"),
    ))?;
    warm.wait_completed(&db, LOAD_LIMIT)?;
    std::thread::sleep(Duration::from_millis(5)); // the next batch starts a millisecond later
    std::thread::sleep(Duration::from_millis(300));
    let idle_mib = service.rss_mib()?;

    // 1,000 runs waiting for a signal: no instance is kept for them.
    let before = idle_mib;
    let names: Vec<String> = (0..RUNS).map(|i| format!("wait-{i}")).collect();
    let batch = Batch::starting_now(RUNS);
    let waiting =
        bench
            .rt
            .block_on(submit(&client, std::slice::from_ref(&base), &names, |_| {
                crate::setup::input(1, "signal")
            }))?;
    batch.wait(&db, "'suspended'", LOAD_LIMIT)?;
    std::thread::sleep(Duration::from_millis(500));
    let suspended_mib = service.rss_mib()?;
    let per_suspended_kib = (suspended_mib - before).max(0.0) * 1024.0 / RUNS as f64;
    let begun = Instant::now();
    bench.rt.block_on(signal_all(&client, &base, &waiting))?;
    batch.wait_completed(&db, LOAD_LIMIT)?;
    std::thread::sleep(Duration::from_millis(5));
    let wake_rate = RUNS as f64 / begun.elapsed().as_secs_f64();
    let reps = bench.reps.clamp(1, 3);
    let (mut rate, mut p50, mut p99, mut per_active) = (vec![], vec![], vec![], vec![]);
    let (mut peaks, mut submitted) = (vec![], vec![]);
    for rep in 0..reps {
        llm.peak.store(0, Ordering::SeqCst);
        let names: Vec<String> = (0..RUNS).map(|i| format!("load-{rep}-{i}")).collect();
        let before = service.rss_mib()?;
        let batch = Batch::starting_now(RUNS);
        let begun = Instant::now();
        let stop_sampling = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (pid, stop) = (service.pid, stop_sampling.clone());
            std::thread::spawn(move || {
                let mut peak = 0f64;
                while !stop.load(Ordering::Relaxed) {
                    peak = peak.max(rss_mib(pid).unwrap_or(0.0));
                    std::thread::sleep(Duration::from_millis(5));
                }
                peak
            })
        };
        bench
            .rt
            .block_on(submit(&client, std::slice::from_ref(&base), &names, |_| {
                crate::setup::input(LLM_CALLS, "llm")
            }))?;
        submitted.push(ms(begun.elapsed()));
        let done = batch.wait_completed(&db, LOAD_LIMIT);
        let took = begun.elapsed();
        stop_sampling.store(true, Ordering::Relaxed);
        let peak_mib = sampler
            .join()
            .map_err(|_| anyhow!("the sampler panicked"))?;
        done?;
        std::thread::sleep(Duration::from_millis(5));
        let times = batch.times(&db)?;
        rate.push(RUNS as f64 / took.as_secs_f64());
        p50.push(percentile(&times, 0.50));
        p99.push(percentile(&times, 0.99));
        let peak_runs = llm.peak.load(Ordering::SeqCst).max(1);
        peaks.push(peak_runs);
        per_active.push((peak_mib - before).max(0.0) / peak_runs as f64);
    }
    // The warm-up's call, and every call of the loads.
    let expected_requests = 1 + reps * RUNS * LLM_CALLS as usize;
    ensure!(
        llm.requests.load(Ordering::Relaxed) == expected_requests,
        "the LLM test server saw {} requests, expected {expected_requests}",
        llm.requests.load(Ordering::Relaxed)
    );

    service.stop();
    server.abort();

    let ideal = LLM_CALLS as f64 * ms(LLM_DELAY);
    let rate_floor = Figure::floor(
        "serve.ideal_rate",
        &format!("ideal: {RUNS} runs at once, LLM latency only (runs/s)"),
        Unit::PerSec,
        vec![RUNS as f64 / (ideal / 1000.0)],
    );
    let latency_floor = Figure::floor(
        "serve.llm_latency",
        &format!(
            "LLM latency alone: {LLM_CALLS} calls × {} ms",
            ms(LLM_DELAY)
        ),
        Unit::Ms,
        vec![ideal],
    );
    let rate = Figure::relive(
        "serve.rate",
        &format!("{RUNS} concurrent runs: runs per second"),
        Unit::PerSec,
        rate,
    )
    .versus(&rate_floor, "vs ideal");
    let p50 = Figure::relive("serve.p50", "  end-to-end time per run, p50", Unit::Ms, p50)
        .versus(&latency_floor, "vs LLM latency");
    let p99 = Figure::relive("serve.p99", "  end-to-end time per run, p99", Unit::Ms, p99)
        .versus(&latency_floor, "vs LLM latency");
    let active = Figure::relive(
        "serve.rss_per_active_run",
        "resident memory per active run",
        Unit::MiB,
        per_active,
    );
    let suspended = Figure::relive(
        "serve.rss_per_suspended_run",
        "resident memory per suspended run",
        Unit::KiB,
        vec![per_suspended_kib],
    );
    let submit = Figure::detail(
        "serve.submit",
        &format!("  of which submitting the {RUNS} runs (POST /v1/runs)"),
        Unit::Ms,
        submitted,
    );
    let wake = Figure::detail(
        "serve.wake_rate",
        &format!("{RUNS} suspended runs signalled: runs resumed per second"),
        Unit::PerSec,
        vec![wake_rate],
    );
    let notes = vec![
        format!(
            "service: `relive serve --max-runs {RUNS}`; idle {idle_mib:.0} MiB resident after one warm-up run, {suspended_mib:.0} MiB with {RUNS} runs suspended"
        ),
        format!(
            "most LLM requests in flight at once (active runs) per repetition: {peaks:?}; each run is `steps` with {{\"kind\":\"llm\",\"steps\":{LLM_CALLS}}}, fsync = \"critical\""
        ),
        format!(
            "runs per second: {RUNS} / (first POST /v1/runs → last run completed); p50/p99 from each run's created_at → updated_at in the journal (ms); {CLIENTS} client connections"
        ),
    ];
    Ok(Outcome::Measured {
        figures: vec![
            rate_floor,
            latency_floor,
            rate,
            submit,
            p50,
            p99,
            active,
            suspended,
            wake,
        ],
        notes,
    })
}

/// POSTs one run per name (at most [`CLIENTS`] at once), to the services
/// at `bases` in turn; returns the ids.
pub async fn submit(
    client: &reqwest::Client,
    bases: &[String],
    names: &[String],
    input: impl Fn(&str) -> String,
) -> anyhow::Result<Vec<String>> {
    let bodies: Vec<Value> = names
        .iter()
        .map(|n| json!({ "agent": crate::setup::AGENT, "input": input(n) }))
        .collect();
    let results: Vec<anyhow::Result<String>> = futures_util::stream::iter(bodies)
        .enumerate()
        .map(|(i, body)| async move {
            let base = &bases[i % bases.len()];
            let resp = client
                .post(format!("{base}/v1/runs"))
                .json(&body)
                .send()
                .await?;
            let status = resp.status();
            let value: Value = resp.json().await?;
            ensure!(status.is_success(), "POST /v1/runs: {status} {value}");
            value["id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("POST /v1/runs answered without an id: {value}"))
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Sends the signal `go` to every run.
async fn signal_all(client: &reqwest::Client, base: &str, ids: &[String]) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(ids)
        .map(|id| async move {
            let resp = client
                .post(format!("{base}/v1/runs/{id}/signals/go"))
                .json(&json!({ "data": "go" }))
                .send()
                .await?;
            let status = resp.status();
            ensure!(
                status.is_success(),
                "signal {id}: {status} {}",
                resp.text().await?
            );
            Ok(())
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    results.into_iter().collect()
}

fn open(db: &Path) -> anyhow::Result<Connection> {
    Ok(Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?)
}

/// A batch of runs: those created at or after `since_ms` (the phases run
/// one after another on a journal of their own), `n` of them. Counting by
/// creation time keeps the polling to one indexed query, so that the
/// benchmark's own reads do not steal the service's CPU.
#[derive(Clone, Copy)]
struct Batch {
    since_ms: i64,
    n: usize,
}

impl Batch {
    fn starting_now(n: usize) -> Batch {
        Batch {
            since_ms: relive::journal::now_ms() as i64,
            n,
        }
    }

    fn count(&self, conn: &Connection, statuses: &str) -> anyhow::Result<usize> {
        let sql =
            format!("SELECT count(*) FROM runs WHERE created_at >= ?1 AND status IN ({statuses})");
        let n: i64 = conn.query_row(&sql, [self.since_ms], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Waits until every run of the batch has one of `statuses`.
    fn wait(&self, db: &Path, statuses: &str, limit: Duration) -> anyhow::Result<()> {
        let conn = open(db)?;
        let give_up = Instant::now() + limit;
        loop {
            let n = self.count(&conn, statuses)?;
            if n >= self.n {
                return Ok(());
            }
            if Instant::now() > give_up {
                bail!("{n} of {} runs reached {statuses} within {limit:?}", self.n);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until every run is final; fails if one did not complete.
    fn wait_completed(&self, db: &Path, limit: Duration) -> anyhow::Result<()> {
        self.wait(
            db,
            "'completed','failed','diverged','cancelled','uncertain'",
            limit,
        )?;
        let conn = open(db)?;
        let completed = self.count(&conn, "'completed'")?;
        if completed < self.n {
            let (id, status, error): (String, String, Option<String>) = conn.query_row(
                "SELECT id, status, error FROM runs WHERE created_at >= ?1 AND status != 'completed' LIMIT 1",
                [self.since_ms],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            bail!(
                "{} of {} runs did not complete; e.g. {id}: {status}: {}",
                self.n - completed,
                self.n,
                error.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Each run's created_at → updated_at, in ms.
    fn times(&self, db: &Path) -> anyhow::Result<Vec<f64>> {
        let conn = open(db)?;
        let mut stmt =
            conn.prepare("SELECT updated_at - created_at FROM runs WHERE created_at >= ?1")?;
        let times = stmt
            .query_map([self.since_ms], |r| r.get::<_, i64>(0))?
            .map(|t| Ok(t? as f64))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        ensure!(
            times.len() == self.n,
            "{} runs in the batch, expected {}",
            times.len(),
            self.n
        );
        Ok(times)
    }
}

/// The `q` quantile (nearest rank) of `samples`.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
