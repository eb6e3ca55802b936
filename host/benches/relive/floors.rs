//! Raw floors: what the same work costs without relive, measured in the
//! same run on the same machine. Wasmtime calls go through an engine set up
//! as relive's (component model, fuel, async calls); SQLite writes go to a
//! database with relive's own schema (created by opening a `SqliteJournal`),
//! with the statements relive's writer uses, through plain rusqlite.

use crate::setup::{Bench, us};
use anyhow::Context as _;
use relive::config::FsyncPolicy;
use relive::journal::{NewRun, component_digest, digest_hex, now_ms};
use rusqlite::{Connection, params};
use std::path::Path;
use std::time::Instant;

/// A component with one imported no-op function and an export that calls
/// it `n` times.
const NOOP_COMPONENT: &str = r#"
(component
  (import "noop" (func $noop))
  (core module $m
    (import "host" "noop" (func $noop))
    (func (export "run") (param $n i32)
      (block $done
        (loop $again
          (br_if $done (i32.eqz (local.get $n)))
          (call $noop)
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $again)))))
  (core func $noop_lowered (canon lower (func $noop)))
  (core instance $host (export "noop" (func $noop_lowered)))
  (core instance $i (instantiate $m (with "host" (instance $host))))
  (func (export "run") (param "n" u32) (canon lift (core func $i "run"))))
"#;

/// The same as a core module.
const NOOP_MODULE: &str = r#"
(module
  (import "host" "noop" (func $noop))
  (func (export "run") (param $n i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (call $noop)
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again)))))
"#;

/// An engine configured as `relive::runtime::sandbox::engine()`, without the
/// compile cache.
pub fn engine() -> anyhow::Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    Ok(wasmtime::Engine::new(&config)?)
}

/// Calls made per sample of the bare-call floors.
const BARE_CALLS: u32 = 1_000_000;

/// µs per guest→host call of a no-op import of a component, called as
/// relive calls its guests (async, with fuel). One sample per repetition.
pub fn bare_component_call(bench: &Bench) -> anyhow::Result<Vec<f64>> {
    use wasmtime::component::{Component, Linker};
    let engine = engine()?;
    let component = Component::new(&engine, NOOP_COMPONENT)?;
    let mut linker = Linker::<()>::new(&engine);
    linker.root().func_wrap("noop", |_, (): ()| Ok(()))?;
    bench.rt.block_on(async {
        let mut store = wasmtime::Store::new(&engine, ());
        store.set_fuel(u64::MAX)?;
        store.fuel_async_yield_interval(Some(relive::config::limits::FUEL_YIELD_INTERVAL))?;
        let instance = linker.instantiate_async(&mut store, &component).await?;
        let run = instance.get_typed_func::<(u32,), ()>(&mut store, "run")?;
        let mut samples = Vec::new();
        run.call_async(&mut store, (1000,)).await?;
        for _ in 0..bench.reps {
            let begun = Instant::now();
            run.call_async(&mut store, (BARE_CALLS,)).await?;
            samples.push(us(begun.elapsed()) / f64::from(BARE_CALLS));
        }
        Ok(samples)
    })
}

/// µs per guest→host call of a no-op import of a core module.
pub fn bare_core_call(bench: &Bench) -> anyhow::Result<Vec<f64>> {
    let engine = engine()?;
    let module = wasmtime::Module::new(&engine, NOOP_MODULE)?;
    let mut linker = wasmtime::Linker::<()>::new(&engine);
    linker.func_wrap("host", "noop", || {})?;
    bench.rt.block_on(async {
        let mut store = wasmtime::Store::new(&engine, ());
        store.set_fuel(u64::MAX)?;
        store.fuel_async_yield_interval(Some(relive::config::limits::FUEL_YIELD_INTERVAL))?;
        let instance = linker.instantiate_async(&mut store, &module).await?;
        let run = instance.get_typed_func::<u32, ()>(&mut store, "run")?;
        let mut samples = Vec::new();
        run.call_async(&mut store, 1000).await?;
        for _ in 0..bench.reps {
            let begun = Instant::now();
            run.call_async(&mut store, BARE_CALLS).await?;
            samples.push(us(begun.elapsed()) / f64::from(BARE_CALLS));
        }
        Ok(samples)
    })
}

/// A database with relive's schema and one run (so that entries' foreign
/// key holds), opened with plain rusqlite as relive opens its connections.
pub struct RawJournal {
    pub conn: Connection,
    pub run_id: String,
    next_seq: i64,
}

/// relive's insert of one entry (`insert_entry` in journal/writer.rs).
const INSERT_ENTRY: &str = "INSERT INTO entries (run_id, seq, kind, name, request_digest, request, response, state,
                              started_at, finished_at, input_tokens, output_tokens, resolution, packed, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// The row of one entry: (kind, name, request, response).
pub struct Row<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub request: &'a str,
    pub response: &'a str,
}

/// A clock read, as relive records one.
pub const CLOCK_ROW: Row<'static> = Row {
    kind: "clock",
    name: "wall",
    request: "null",
    response: "[1763800000,123456789]",
};

impl RawJournal {
    pub fn create(path: &Path) -> anyhow::Result<RawJournal> {
        let run_id = "rawfloor01".to_string();
        {
            let journal = crate::setup::open_journal(path, FsyncPolicy::Critical)?;
            let digest = component_digest(b"floor");
            journal.put_component(&digest, b"floor").wait_blocking()?;
            journal
                .create_run(NewRun {
                    id: run_id.clone(),
                    agent: "floor".into(),
                    component_digest: digest,
                    input: "{}".into(),
                    config_path: None,
                    policy: None,
                    parent: None,
                    lease: None,
                })
                .wait_blocking()?;
        }
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )?;
        Ok(RawJournal {
            conn,
            run_id,
            next_seq: 0,
        })
    }

    fn insert(conn: &Connection, run_id: &str, seq: i64, row: &Row<'_>) -> anyhow::Result<()> {
        let now = now_ms();
        conn.prepare_cached(INSERT_ENTRY)?.execute(params![
            run_id,
            seq,
            row.kind,
            row.name,
            digest_hex(row.request.as_bytes()),
            row.request,
            row.response,
            "completed",
            now,
            now,
            None::<i64>,
            None::<i64>,
            None::<String>,
            0i64,
            None::<String>,
        ])?;
        Ok(())
    }

    /// Inserts `count` rows in transactions of `per_tx` rows; returns µs
    /// per row.
    pub fn insert_rows(
        &mut self,
        row: &Row<'_>,
        count: usize,
        per_tx: usize,
    ) -> anyhow::Result<f64> {
        let begun = Instant::now();
        let mut left = count;
        while left > 0 {
            let n = left.min(per_tx);
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for _ in 0..n {
                Self::insert(&tx, &self.run_id, self.next_seq, row)?;
                self.next_seq += 1;
            }
            tx.commit()?;
            left -= n;
        }
        Ok(us(begun.elapsed()) / count as f64)
    }

    /// Sets `PRAGMA synchronous` (`NORMAL`: WAL commits without fsync;
    /// `FULL`: every commit fsyncs the WAL).
    pub fn synchronous(&self, mode: &str) -> anyhow::Result<()> {
        self.conn
            .execute_batch(&format!("PRAGMA synchronous = {mode}"))
            .context("cannot set synchronous")
    }
}

/// ms to read a run's entries with a plain `SELECT` of the columns relive
/// reads, materialised into owned values.
pub fn read_entries_ms(path: &Path, run_id: &str) -> anyhow::Result<(f64, usize)> {
    let conn = Connection::open(path)?;
    let begun = Instant::now();
    let mut stmt = conn.prepare(
        "SELECT seq, kind, name, request_digest, request, response, state, started_at,
                finished_at, input_tokens, output_tokens, resolution, packed, attempts
         FROM entries WHERE run_id = ?1 ORDER BY seq",
    )?;
    type RawEntry = (
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        i64,
        Option<String>,
    );
    let rows: Vec<RawEntry> = stmt
        .query_map([run_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok((begun.elapsed().as_secs_f64() * 1e3, rows.len()))
}
