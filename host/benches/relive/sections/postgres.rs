//! h. PostgreSQL beside SQLite (issue 18): section b's durable step with
//! the journal on PostgreSQL, next to the same step on SQLite measured in
//! the same run; and `relive serve` with 1, 2 and 3 processes sharing one
//! PostgreSQL database (`pg_serve.rs`).
//!
//! The section starts a throw-away cluster of its own
//! (`relive::journal::postgres::throwaway`: initdb under the temporary
//! directory, the server on 127.0.0.1, fsync and synchronous_commit on as
//! shipped) and stops it at the end. Without PostgreSQL's server binaries
//! it is skipped, and says why. Each measurement gets a schema of its own.

use crate::Outcome;
use crate::floors::{RawJournal, Row};
use crate::report::{Figure, Unit};
use crate::sections::steps::{bare_run, recorded_response};
use crate::setup::{Bench, READ_ARGS, open_journal, us};
use anyhow::Context as _;
use relive::config::FsyncPolicy;
use relive::journal::postgres::throwaway::{self, Cluster, schema_url};
use relive::journal::{Location, digest_hex, now_ms};
use std::time::Instant;

/// Steps of the short and the long run (the difference is timed), as in
/// section b.
const STEPS_LO: u64 = 100;
const STEPS_HI: u64 = 1_100;
/// Commits per sample of the PostgreSQL floor.
const FLOOR_COMMITS: usize = 300;

/// relive's statement for a completed entry, as the floor writes it.
const INSERT_ENTRY: &str = "INSERT INTO entries (run_id, seq, kind, name, request_digest, request, response, state, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'completed', $8, $8)";

pub fn run(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let found = throwaway::bin_dir().filter(|bin| bin.join("initdb").is_file());
    if found.is_none() {
        return Ok(Outcome::NotMeasured(
            "skipped: no PostgreSQL server binaries (initdb, postgres) in $PG_BIN, /usr/lib/postgresql/NN/bin or PATH; install Debian's `postgresql` package or set PG_BIN to their folder".into(),
        ));
    }
    let cluster = Cluster::start(true)?;
    let server = cluster.url().to_string();
    let (mut figures, mut notes) = steps(bench, &server)?;
    let (serve_figures, serve_notes) = super::pg_serve::run(bench, &server)?;
    figures.extend(serve_figures);
    notes.extend(serve_notes);
    drop(cluster);
    Ok(Outcome::Measured { figures, notes })
}

/// The durable step (section b's, fsync = "critical", tool included) on
/// SQLite and on PostgreSQL, each beside one commit of an entry row.
fn steps(bench: &mut Bench, server: &str) -> anyhow::Result<(Vec<Figure>, Vec<String>)> {
    let response = recorded_response();
    let row = Row {
        kind: "tool",
        name: "step",
        request: READ_ARGS,
        response: &response,
    };
    let mut raw = RawJournal::create(&bench.scratch("pg-raw-commits.db"))?;
    raw.synchronous("NORMAL")?;
    raw.insert_rows(&row, 200, 1)?;
    let wal = (0..bench.reps)
        .map(|_| raw.insert_rows(&row, 2_000, 1))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let wal = Figure::floor(
        "postgres.sqlite_wal_commit",
        "SQLite commit of one entry row, WAL, no fsync",
        Unit::Us,
        wal,
    );
    let pg_commit = Figure::floor(
        "postgres.pg_commit",
        "PostgreSQL INSERT + COMMIT of one entry row (tokio-postgres, synchronous_commit on)",
        Unit::Us,
        pg_commits(bench, &schema_url(server, "step_floor")?)?,
    );

    let (rt, config) = bench.runtime("pg-step-sqlite", FsyncPolicy::Critical)?;
    let sqlite = bench.per_step_us(&rt, &config, "tool", STEPS_LO, STEPS_HI)?;
    drop(rt);
    let url = schema_url(server, "step")?;
    let (rt, config) = bench.runtime_at("pg-step-postgres", FsyncPolicy::Critical, &url)?;
    let pg = bench.per_step_us(&rt, &config, "tool", STEPS_LO, STEPS_HI)?;
    drop(rt);

    let sqlite = Figure::relive(
        "postgres.step_sqlite",
        "durable step on SQLite (section b's, fsync critical), tool included",
        Unit::Us,
        sqlite,
    )
    .versus(&wal, "vs one WAL commit");
    let pg = Figure::relive(
        "postgres.step_postgres",
        "the same step on PostgreSQL",
        Unit::Us,
        pg,
    )
    .versus(&pg_commit, "vs one PostgreSQL commit");
    let notes = vec![
        format!(
            "durable step on PostgreSQL: {:.0} µs, {:.1}× SQLite's {:.0} µs in the same run; a step is two commits (the call started, its result), each waited for",
            pg.value,
            pg.value / sqlite.value,
            sqlite.value
        ),
        "PostgreSQL runs on the same machine (127.0.0.1), fsync and synchronous_commit on: every commit waits for the server's WAL flush and a round trip; SQLite's WAL commit at fsync = \"critical\" does not fsync".to_string(),
    ];
    Ok((vec![wal, pg_commit, sqlite, pg], notes))
}

/// µs per autocommitted INSERT of one completed entry row through
/// tokio-postgres, with synchronous_commit on; one sample per repetition.
fn pg_commits(bench: &mut Bench, url: &str) -> anyhow::Result<Vec<f64>> {
    let journal = open_journal(Location::parse(url), FsyncPolicy::Critical)?;
    let run_id = bare_run(&*journal)?;
    drop(journal);
    let response = recorded_response();
    let digest = digest_hex(READ_ARGS.as_bytes());
    bench.rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let connection = tokio::spawn(connection);
        client.batch_execute("SET synchronous_commit = on").await?;
        let stmt = client.prepare(INSERT_ENTRY).await?;
        let mut seq = 0i64;
        let mut insert = async || {
            let now = now_ms() as i64;
            seq += 1;
            client
                .execute(
                    &stmt,
                    &[
                        &run_id,
                        &seq,
                        &"tool",
                        &"step".as_bytes(),
                        &digest,
                        &READ_ARGS.as_bytes(),
                        &response.as_bytes(),
                        &now,
                    ],
                )
                .await
        };
        for _ in 0..20 {
            insert().await?;
        }
        let mut samples = Vec::new();
        for _ in 0..bench.reps {
            let begun = Instant::now();
            for _ in 0..FLOOR_COMMITS {
                insert().await?;
            }
            samples.push(us(begun.elapsed()) / FLOOR_COMMITS as f64);
        }
        drop(client);
        let _ = connection.await;
        Ok(samples)
    })
}
