//! e. Component start: the first start of an agent in a new process
//! (compiling it, with an empty compile cache), a cached start (a second
//! process, cache warm), and instantiating a component already compiled and
//! linked, as every run of it does.
//!
//! Starts are timed in child processes (this bench binary, run again with
//! `--start-child`), each with its own `RELIVE_CACHE_DIR`, so that nothing
//! compiled or cached in this process helps them.

use crate::Outcome;
use crate::report::{Figure, Unit};
use crate::setup::{AGENT, Bench, ms, us};
use anyhow::{Context as _, bail, ensure};
use relive::config::FsyncPolicy;
use relive::engine::{Mode, Recorder};
use relive::imports::{Grants, HostState};
use relive::journal::component_digest;
use relive::runtime::Runtime;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Instantiations per sample.
const INSTANCES: u32 = 200;

pub fn run(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let cwasm = bench.scratch("steps.cwasm");
    std::fs::write(
        &cwasm,
        crate::floors::engine()?.precompile_component(&bench.bytes)?,
    )?;
    let reps = bench.reps.min(5);
    let mut first = Vec::new();
    let mut first_engine = Vec::new();
    let mut cached = Vec::new();
    let mut compile = Vec::new();
    let mut deserialize = Vec::new();
    let mut warm = None;
    for rep in 0..reps {
        let cache = bench.scratch(&format!("cache-{rep}"));
        let (engine_ms, load_ms) = child(bench, "relive", &cache, &cwasm)?;
        first.push(engine_ms + load_ms);
        first_engine.push(engine_ms);
        compile.push(child(bench, "compile", &cache, &cwasm)?.1);
        warm = Some(cache);
    }
    let warm = warm.context("at least one repetition")?;
    for _ in 0..bench.reps {
        let (engine_ms, load_ms) = child(bench, "relive", &warm, &cwasm)?;
        cached.push(engine_ms + load_ms);
        deserialize.push(child(bench, "deserialize", &warm, &cwasm)?.1);
    }
    let (relive_instantiate, bare_instantiate) = instantiate(bench)?;

    let compile = Figure::floor(
        "start.compile",
        "wasmtime compile of steps.wasm (no cache)",
        Unit::Ms,
        compile,
    );
    let deserialize = Figure::floor(
        "start.deserialize",
        "wasmtime load of the precompiled component (.cwasm)",
        Unit::Ms,
        deserialize,
    );
    let first = Figure::relive(
        "start.first",
        "first start: engine, compile (empty cache), link",
        Unit::Ms,
        first,
    )
    .versus(&compile, "vs compile");
    let cached_fig = Figure::relive(
        "start.cached",
        "cached start: second process, cache warm",
        Unit::Ms,
        cached,
    );
    let skips = cached_fig.value < first.value / 10.0;
    let cached_fig = cached_fig.below(first.value / 10.0, "skips compiling: < ⅒ first");
    let engine = Figure::detail(
        "start.engine",
        "  of which engine + linker (`Runtime::new`)",
        Unit::Ms,
        first_engine,
    );
    let bare = Figure::floor(
        "start.instantiate_bare",
        "instantiate a linked component (store made beforehand)",
        Unit::Us,
        bare_instantiate,
    );
    let instantiate = Figure::relive(
        "start.instantiate",
        "instantiate a linked component: store, host state, instance",
        Unit::Us,
        relive_instantiate,
    )
    .versus(&bare, "vs instantiate alone");
    let notes = vec![
        format!(
            "the cached start {} compilation: {:.1} ms against {:.0} ms for the first start; {:.1}× loading the .cwasm directly",
            if skips { "skips" } else { "does NOT skip" },
            cached_fig.value,
            first.value,
            cached_fig.value / deserialize.value
        ),
        "DESIGN §9 floor for instantiating a small precompiled component: 0.15 ms".into(),
    ];
    Ok(Outcome::Measured {
        figures: vec![
            compile,
            deserialize,
            first,
            engine,
            cached_fig,
            bare,
            instantiate,
        ],
        notes,
    })
}

/// Runs this binary as a start child; returns (engine ms, load ms).
fn child(bench: &Bench, mode: &str, cache: &Path, cwasm: &Path) -> anyhow::Result<(f64, f64)> {
    let exe = std::env::current_exe()?;
    let db = bench.dir.join(format!("start-{}.db", std::process::id()));
    let out = std::process::Command::new(exe)
        .arg("--start-child")
        .arg(mode)
        .arg(&bench.wasm)
        .arg(cwasm)
        .arg(&db)
        .env("RELIVE_CACHE_DIR", cache)
        .output()?;
    if !out.status.success() {
        bail!(
            "start child `{mode}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let engine = v["engine_ms"].as_f64().context("engine_ms")?;
    let load = v["load_ms"].as_f64().context("load_ms")?;
    Ok((engine, load))
}

/// In a start child: times one start of `mode` and prints
/// `{"engine_ms":..,"load_ms":..}`. Modes: `relive` (`Runtime::new`, then
/// `Runtime::load`, with the cache of `RELIVE_CACHE_DIR`), `compile`
/// (wasmtime, no cache), `deserialize` (wasmtime, the .cwasm).
pub fn child_main(args: &[String]) -> anyhow::Result<()> {
    let [mode, wasm, cwasm, db] = args else {
        bail!("usage: --start-child MODE WASM CWASM DB");
    };
    let bytes = std::fs::read(wasm)?;
    let (engine_ms, load_ms) = match mode.as_str() {
        "relive" => {
            let journal = crate::setup::open_journal(Path::new(db), FsyncPolicy::Critical)?;
            let begun = Instant::now();
            let runtime = Runtime::new(journal)?;
            let engine_ms = ms(begun.elapsed());
            let begun = Instant::now();
            runtime.load(wasm, &bytes, usize::MAX)?;
            (engine_ms, ms(begun.elapsed()))
        }
        "compile" => {
            let begun = Instant::now();
            let engine = crate::floors::engine()?;
            let engine_ms = ms(begun.elapsed());
            let begun = Instant::now();
            wasmtime::component::Component::new(&engine, &bytes)?;
            (engine_ms, ms(begun.elapsed()))
        }
        "deserialize" => {
            let begun = Instant::now();
            let engine = crate::floors::engine()?;
            let engine_ms = ms(begun.elapsed());
            let begun = Instant::now();
            let compiled = std::fs::read(cwasm)?;
            deserialize(&engine, &compiled)?;
            (engine_ms, ms(begun.elapsed()))
        }
        other => bail!("unknown start mode `{other}`"),
    };
    println!(
        "{}",
        serde_json::json!({ "engine_ms": engine_ms, "load_ms": load_ms })
    );
    Ok(())
}

#[allow(unsafe_code)]
fn deserialize(engine: &wasmtime::Engine, compiled: &[u8]) -> anyhow::Result<()> {
    // SAFETY: `compiled` was written by `Engine::precompile_component` of an
    // engine configured exactly as this one, by this same binary, in this
    // benchmark run; it is not untrusted input.
    unsafe { wasmtime::component::Component::deserialize(engine, compiled)? };
    Ok(())
}

/// µs per instantiation of the compiled, linked `steps` component: as relive
/// does it for a run (a new store with the run's host state, then the
/// instance), and the instance alone (stores made beforehand).
fn instantiate(bench: &mut Bench) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (runtime, _config) = bench.runtime("instantiate", FsyncPolicy::Critical)?;
    let digest = component_digest(&bench.bytes);
    let path = bench.wasm.display().to_string();
    let pre = runtime.prepared(&digest, &path, &bench.bytes, usize::MAX)?;
    let new_store = || {
        let run_id = "instance01".to_string();
        let recorder = Recorder::new(run_id.clone(), None, Vec::new(), Mode::ReplayOnly, None);
        let wasi = relive::runtime::sandbox::wasi_ctx(&run_id, Arc::new(AtomicBool::new(false)));
        let grants = Grants::none(AGENT);
        let fuel = grants.limits.fuel;
        let mut store = wasmtime::Store::new(pre.engine(), HostState::new(wasi, recorder, grants));
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(fuel)?;
        store.fuel_async_yield_interval(Some(relive::config::limits::FUEL_YIELD_INTERVAL))?;
        anyhow::Ok(store)
    };
    bench.rt.block_on(async {
        let mut relive = Vec::new();
        let mut bare = Vec::new();
        for rep in 0..bench.reps + 1 {
            let begun = Instant::now();
            for _ in 0..INSTANCES {
                let mut store = new_store()?;
                pre.instantiate_async(&mut store).await?;
            }
            let relive_us = us(begun.elapsed()) / f64::from(INSTANCES);
            let mut stores = (0..INSTANCES)
                .map(|_| new_store())
                .collect::<Result<Vec<_>, _>>()?;
            let begun = Instant::now();
            for store in &mut stores {
                pre.instantiate_async(store).await?;
            }
            let bare_us = us(begun.elapsed()) / f64::from(INSTANCES);
            drop(stores);
            if rep > 0 {
                relive.push(relive_us);
                bare.push(bare_us);
            }
        }
        ensure!(!relive.is_empty(), "no repetitions");
        Ok((relive, bare))
    })
}
