//! Agents in TypeScript (issue 15): real components built by `relive build`
//! (tsc, esbuild, componentize-js) from the examples' and test guests'
//! source, run by the real binary, killed with SIGKILL, resumed and
//! replayed.
//!
//! Why this file is long: every TypeScript scenario of issues 15 and 16
//! shares one build cache of the 12 MB components (each is built once per
//! test process), which lives here; split, each part would build them again.
//!
//! The toolchain is the one the repository's package.json pins, installed
//! into `node_modules/` by `npm ci` at the root (what `.ci/run` does); the
//! SDK (`guest-sdk/ts`) is linked there as `relive-sdk`. Without it these
//! tests are skipped with a note, except under CI (`CI` set), where that is
//! a failure.
//!
//! A JavaScript component is about 12 MB with StarlingMonkey (SpiderMonkey)
//! inside: building one takes 10-20 s and compiling it about as long. So
//! each is built once per test process (and kept in `target/ts-guests/`
//! under a hash of its sources, for the next process), then compiled once
//! into the shared disk cache (`RELIVE_CACHE_DIR`, see `support::relive_bin`)
//! before any test runs it.

use crate::support::*;
use relive::journal::{EntryKind, EntryState, RunStatus};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// The root `node_modules/.bin`, or `None` (with a note) when `npm ci` has
/// not installed it.
fn toolchain() -> Option<PathBuf> {
    let bin = root().join("node_modules/.bin");
    if bin.join("componentize-js").is_file() && bin.join("tsc").is_file() {
        return Some(bin);
    }
    let why = format!(
        "the TypeScript toolchain is not in {}; install it with `npm ci` at the repository root (what .ci/run does)",
        bin.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipping a TypeScript test: {why}");
    None
}

/// Every file under `dir` a build reads (sources, manifests, WIT), in a
/// stable order; `node_modules` and build output are not.
fn source_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "node_modules" && name != "build" && name != "fixtures" {
                source_files(&path, files);
            }
        } else if [".ts", ".js", ".json", ".wit"]
            .iter()
            .any(|ext| name.ends_with(ext))
            && !name.ends_with(".bundle.js")
        {
            files.push(path);
        }
    }
}

/// Everything a build of the TypeScript project `dir` depends on, hashed:
/// its sources, the SDK's, the WIT and the toolchain's lock file.
fn sources_digest(dir: &Path) -> String {
    let mut files = Vec::new();
    source_files(dir, &mut files);
    source_files(&root().join("guest-sdk/ts/src"), &mut files);
    files.push(root().join("guest-sdk/ts/package.json"));
    source_files(&root().join("wit"), &mut files);
    files.push(root().join("package-lock.json"));
    let mut hash = Sha256::new();
    for f in files {
        hash.update(
            f.strip_prefix(dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update(std::fs::read(&f).unwrap());
    }
    hex::encode(hash.finalize())[..16].to_string()
}

/// Builds a component once per (name, sources digest) into
/// `target/ts-guests/`, with `build` writing it to the path it is given,
/// and compiles it into the shared cache.
fn built_once(name: &str, digest: String, build: impl FnOnce(&Path)) -> PathBuf {
    static BUILT: Mutex<Vec<(String, Arc<OnceLock<PathBuf>>)>> = Mutex::new(Vec::new());
    let key = format!("{name}-{digest}");
    let cell = {
        let mut built = BUILT.lock().unwrap();
        match built.iter().find(|(k, _)| *k == key) {
            Some((_, cell)) => cell.clone(),
            None => {
                let cell = Arc::new(OnceLock::new());
                built.push((key.clone(), cell.clone()));
                cell
            }
        }
    };
    cell.get_or_init(|| {
        let wasm = root()
            .join("target/ts-guests")
            .join(&digest)
            .join(format!("{name}.wasm"));
        if !wasm.is_file() {
            std::fs::create_dir_all(wasm.parent().unwrap()).unwrap();
            let partial = wasm.with_extension("partial");
            build(&partial);
            std::fs::rename(&partial, &wasm).unwrap();
        }
        // Compile it once, into the cache every test's relive uses: a run
        // on a throwaway journal (its input makes it stop at once).
        let scratch = Scratch::new();
        let _ = scratch.run(&["run", wasm.to_str().unwrap(), "-q"]);
        wasm
    })
    .clone()
}

/// The TypeScript agent project `dir` built into a component with
/// `relive build` (the toolchain and SDK of the root node_modules), once
/// per test process, and compiled into the shared cache.
fn ts_agent(dir: &Path) -> Option<PathBuf> {
    toolchain()?;
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    Some(built_once(&name, sources_digest(dir), |partial| {
        let out = relive_bin()
            .arg("build")
            .arg(dir)
            .arg("-o")
            .arg(partial)
            .output()
            .unwrap();
        assert_code(&out, 0);
    }))
}

fn example(name: &str) -> Option<PathBuf> {
    ts_agent(&root().join("examples").join(name))
}

fn nondet_guest() -> Option<PathBuf> {
    ts_agent(&root().join("tests/guests/ts-nondet"))
}

/// The researcher with one word of its system prompt changed: a changed
/// build of the same agent.
fn changed_researcher() -> Option<PathBuf> {
    let dir = root().join("target/ts-guests/src/researcher-ts-changed");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let source = root().join("examples/researcher-ts");
    for file in ["package.json", "tsconfig.json", "src/app.ts"] {
        let text = std::fs::read_to_string(source.join(file)).unwrap();
        let text = if file == "src/app.ts" {
            assert!(text.contains("You are a careful research assistant."));
            text.replace(
                "You are a careful research assistant.",
                "You are a thorough research assistant.",
            )
        } else {
            text
        };
        std::fs::write(dir.join(file), text).unwrap();
    }
    ts_agent(&dir)
}

const QUESTION: &str = "How does relive resume a crashed run?";

/// `relive run AGENT --input INPUT --json`, as the agent named like the
/// component file (`researcher-ts`, as in the example's relive.toml).
fn run_json(scratch: &Scratch, agent: &Path, input: &str) -> serde_json::Value {
    let out = scratch
        .relive()
        .arg("run")
        .arg(agent)
        .arg("--as")
        .arg(agent.file_stem().unwrap())
        .args(["--input", input, "--json"])
        .output()
        .unwrap();
    json(&out)
}

fn final_answer_of_script(example: &str) -> String {
    let script: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples").join(example).join("script.json"))
            .unwrap(),
    )
    .unwrap();
    let replies = script["replies"].as_array().unwrap();
    replies.last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs a toolchain command in `dir`; panics with its output when it fails.
fn run_tool(dir: &Path, program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {} failed:\n{}\n{}",
        program.display(),
        args.join(" "),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn ts_sdk_types_match_the_wit_check_strictly_and_its_unit_tests_pass() {
    let Some(bin) = toolchain() else {
        return;
    };
    let sdk = root().join("guest-sdk/ts");
    let node = Path::new("node");
    // The WIT types in src/wit/ are what jco generates from wit/ today.
    let said = run_tool(&sdk, node, &["scripts/wit-types.mjs", "--check"]);
    assert!(said.contains("src/wit/ matches the WIT"), "{said}");
    // tsc --noEmit, strict (tsconfig.json), on the SDK as agents compile it.
    run_tool(&sdk, &bin.join("tsc"), &["--noEmit", "-p", "tsconfig.json"]);
    // The unit tests, against a fake host (tests/fake-host.ts), under Node.
    let build = sdk.join("build");
    let _ = std::fs::remove_dir_all(&build);
    run_tool(&sdk, &bin.join("tsc"), &["-p", "tsconfig.test.json"]);
    let said = run_tool(
        &sdk,
        node,
        &[
            "--import",
            "./build/tests/register.js",
            "--test",
            "build/tests/",
        ],
    );
    assert!(said.contains("# fail 0"), "{said}");
    assert!(!said.contains("# pass 0"), "{said}");
}

#[test]
fn ts_wit_type_check_fails_when_the_wit_changes() {
    let Some(_) = toolchain() else {
        return;
    };
    // The check regenerates from the WIT it is given: a copy of the SDK's
    // script beside a changed WIT must find a difference.
    let scratch = Scratch::new();
    let sdk = scratch.file("guest-sdk/ts");
    std::fs::create_dir_all(sdk.join("scripts")).unwrap();
    std::fs::create_dir_all(scratch.file("wit")).unwrap();
    std::fs::copy(
        root().join("guest-sdk/ts/scripts/wit-types.mjs"),
        sdk.join("scripts/wit-types.mjs"),
    )
    .unwrap();
    std::os::unix::fs::symlink(root().join("guest-sdk/ts/src"), sdk.join("src")).unwrap();
    std::os::unix::fs::symlink(root().join("node_modules"), scratch.file("node_modules")).unwrap();
    let wit = std::fs::read_to_string(root().join("wit/agent.wit")).unwrap();
    let changed = wit.replace(
        "        temperature: option<f32>,",
        "        temperature: option<f32>,\n        top-p: option<f32>,",
    );
    assert_ne!(wit, changed);
    std::fs::write(scratch.file("wit/agent.wit"), changed).unwrap();
    let out = Command::new("node")
        .args(["scripts/wit-types.mjs", "--check"])
        .current_dir(&sdk)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("interfaces/relive-agent-llm.d.ts: differs from what the WIT generates")
            && stderr(&out).contains("npm run wit-types"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ts_researcher_completes_and_replays() {
    let Some(agent) = example("researcher-ts") else {
        return;
    };
    let scratch = Scratch::example("researcher-ts");
    let report = run_json(&scratch, &agent, QUESTION);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(
        report["output"].as_str().unwrap(),
        final_answer_of_script("researcher-ts")
    );
    let id = report["id"].as_str().unwrap();
    let entries = scratch.entries(id);
    let count = |kind: EntryKind| entries.iter().filter(|e| e.kind == kind).count();
    assert_eq!((count(EntryKind::Llm), count(EntryKind::Tool)), (3, 2));
    let logs: Vec<&str> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Log)
        .map(|e| e.request.as_str())
        .collect();
    assert!(
        logs[0].contains(&format!("researching: {QUESTION}")),
        "{logs:?}"
    );
    assert!(
        logs.last().unwrap().contains("step 3: final answer"),
        "{logs:?}"
    );
    assert_eq!(export_and_replay(&scratch, id, &agent)["passed"], true);
}

#[test]
fn ts_researcher_killed_mid_run_resumes_without_rerunning_completed_tools() {
    let Some(agent) = example("researcher-ts") else {
        return;
    };
    let scratch = Scratch::example("researcher-ts");
    let log = scratch.file("search.log");
    let pidfile = scratch.file("hang.pid");
    let mut cmd = scratch.relive();
    cmd.arg("run")
        .arg(&agent)
        .args(["--as", "researcher-ts", "--input", QUESTION])
        .env("SEARCH_LOG", &log)
        .env("SEARCH_HANG_ON", "replay")
        .env("SEARCH_HANG_PIDFILE", &pidfile);
    let id = kill_while_tool_hangs(cmd, &scratch, &pidfile);
    let before = scratch.entries(&id);
    let started: Vec<_> = before
        .iter()
        .filter(|e| e.kind == EntryKind::Tool)
        .map(|e| (e.seq, e.state))
        .collect();
    assert_eq!(started.len(), 2, "killed during the second search");
    assert_eq!(started[0].1, EntryState::Completed);
    assert_eq!(started[1].1, EntryState::Started);

    let out = scratch
        .relive()
        .args(["resume", &id, "--json"])
        .env("SEARCH_LOG", &log)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["status"], "completed", "{report}");
    let output = report["output"].as_str().unwrap();
    assert_eq!(output, final_answer_of_script("researcher-ts"));

    // Every entry from before the kill is unchanged.
    let after = scratch.entries(&id);
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            (old.kind, &old.request),
            (new.kind, &new.request),
            "#{}",
            old.seq
        );
        if old.state == EntryState::Completed {
            assert_eq!(
                old.response, new.response,
                "#{} changed its answer",
                old.seq
            );
        }
    }
    // The output is what a replay of the final journal produces.
    let replay = export_and_replay(&scratch, &id, &agent);
    assert_eq!(replay["passed"], true, "{replay}");
    // The completed search ran once; the interrupted one ran again.
    let counts = first_word_counts(&log);
    let key = |seq: u64| format!("relive-{id}-{seq}");
    assert_eq!(counts.get(&key(started[0].0)), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&key(started[1].0)), Some(&2), "{counts:?}");
    assert_eq!(counts.len(), 2, "{counts:?}");
}

#[test]
fn ts_example_fixtures_replay() {
    for example_name in ["researcher-ts", "triage-ts", "dispatcher-ts"] {
        let Some(agent) = example(example_name) else {
            return;
        };
        for (fixture, report) in replay_fixtures(example_name, &agent) {
            assert_eq!(report["passed"], true, "{fixture}: {report}");
        }
    }
}

/// Found here (issue 16): SpiderMonkey reads the monotonic clock on its own
/// (GC slices, the event loop), as often as the heap makes it, and the
/// host journals every read. A change to the SDK that leaves every LLM,
/// tool and log call as it was still moves those reads: this fixture is
/// examples/triage-ts's as the SDK of issue 15 recorded it (re-recorded in
/// examples/triage-ts/fixtures; the calls other than clock reads are the
/// same, entry for entry), and it diverged on a `clock monotonic` entry.
/// A fixture replay now matches monotonic reads by order only (engine
/// `monotonic`): it passes, and says how many reads it skipped or answered
/// without an entry.
#[test]
fn ts_fixture_recorded_before_an_sdk_change_replays() {
    let Some(agent) = example("triage-ts") else {
        return;
    };
    let fixture = root().join("tests/fixtures/ts-sdk-change/triage-ts-double-charge.jsonl");
    let out = relive_bin()
        .arg("replay")
        .arg(&agent)
        .arg(&fixture)
        .arg("--json")
        .output()
        .unwrap();
    let report = json(&out);
    assert_eq!(report["passed"], true, "{report}");
    let reads = &report["monotonic_reads"];
    let tolerated = reads["skipped"].as_u64().unwrap() + reads["synthesized"].as_u64().unwrap();
    assert!(tolerated > 0, "{report}");
}

#[test]
fn changed_ts_build_diverges_at_the_changed_llm_call() {
    let Some(changed) = changed_researcher() else {
        return;
    };
    let fixture = root().join("examples/researcher-ts/fixtures/resume-question.jsonl");
    let text = std::fs::read_to_string(&fixture).unwrap();
    let first_llm = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["kind"] == "llm")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    let out = relive_bin()
        .arg("replay")
        .arg(&changed)
        .arg(&fixture)
        .output()
        .unwrap();
    assert_code(&out, 4);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("diverged at entry #{first_llm}")),
        "{text}"
    );
    assert!(text.contains("expected: llm `default`"), "{text}");
    assert!(text.contains("careful research assistant"), "{text}");
    assert!(text.contains("thorough research assistant"), "{text}");
}

#[test]
fn ts_exception_fails_the_run_with_its_stack() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let scratch = Scratch::copy_of("tests/guests/ts-nondet");
    let out = scratch
        .relive()
        .arg("run")
        .arg(&agent)
        .args(["--as", "ts-nondet", "--input", "raise", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 3);
    let report = json(&out);
    assert_eq!(report["status"], "failed");
    let error = report["error"].as_str().unwrap();
    let mut lines = error.lines();
    assert_eq!(lines.next(), Some("Error: boom from typescript"), "{error}");
    // Two frames of `explode`, then the agent's `run`, each naming its line
    // in the bundle `relive build` wrote beside the component; the SDK's own
    // frames below the agent are cut.
    let frames: Vec<&str> = lines.collect();
    assert_eq!(frames.len(), 3, "{error}");
    for (frame, function) in frames.iter().zip(["explode", "explode", "run"]) {
        assert!(
            frame.starts_with(&format!("    at {function}")) && frame.contains(".bundle.js:"),
            "{frame:?} in:\n{error}"
        );
    }
    let bundle = agent.with_extension("bundle.js");
    let line: usize = frames[0]
        .rsplit(".bundle.js:")
        .next()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let source = std::fs::read_to_string(&bundle).unwrap();
    let thrown_at = source.lines().nth(line - 1).unwrap();
    assert!(
        thrown_at.contains(r#"throw new Error("boom from typescript")"#),
        "line {line} of {}: {thrown_at}",
        bundle.display()
    );
    assert_eq!(
        scratch
            .run_record(report["id"].as_str().unwrap())
            .error
            .as_deref(),
        Some(error)
    );
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

#[test]
fn ts_date_math_random_and_crypto_replay_exactly_after_a_kill() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let scratch = Scratch::copy_of("tests/guests/ts-nondet");
    let pidfile = scratch.file("pause.pid");
    let mut cmd = scratch.relive();
    cmd.arg("run")
        .arg(&agent)
        .args(["--as", "ts-nondet", "--input", "values"])
        .env("PAUSE_PIDFILE", &pidfile);
    let wall_before = now_ms();
    let id = kill_while_tool_hangs(cmd, &scratch, &pidfile);
    let logged = scratch
        .entries(&id)
        .into_iter()
        .find(|e| e.kind == EntryKind::Log && e.request.contains("before: "))
        .expect("the values were logged before the kill");
    let message: serde_json::Value = serde_json::from_str(&logged.request).unwrap();
    let logged: serde_json::Value = serde_json::from_str(
        message["message"]
            .as_str()
            .unwrap()
            .strip_prefix("before: ")
            .unwrap(),
    )
    .unwrap();

    let out = scratch.run(&["resume", &id, "--json"]);
    assert_code(&out, 0);
    let output: serde_json::Value =
        serde_json::from_str(json(&out)["output"].as_str().unwrap()).unwrap();
    // Each value read before the kill is read again, identical, on resume.
    let keys = [
        "now",
        "iso",
        "performance",
        "random",
        "random2",
        "getRandomValues",
        "randomUUID",
        "timerStarted",
        "timerElapsedMs",
    ];
    for key in keys {
        assert!(!logged[key].is_null(), "`{key}` was not logged");
        assert_eq!(
            output["before"][key], logged[key],
            "`{key}` differs after the resume"
        );
    }
    // The values are real: today's time, a version-4 UUID, fresh randomness,
    // a timer that waited.
    let now = logged["now"].as_f64().unwrap();
    assert!(
        now >= wall_before - 1000.0 && now <= now_ms() + 1000.0,
        "{now}"
    );
    assert_eq!(&logged["randomUUID"].as_str().unwrap()[14..15], "4");
    assert!(
        logged["timerElapsedMs"].as_f64().unwrap() >= 25.0,
        "{logged}"
    );
    for key in ["random", "getRandomValues", "randomUUID"] {
        assert_ne!(output["before"][key], output["after"][key], "`{key}`");
    }
    assert_ne!(output["before"]["random"], output["before"]["random2"]);
    // A replay of the whole journal reproduces the output exactly.
    assert_eq!(export_and_replay(&scratch, &id, &agent)["passed"], true);

    // Another run reads other values: the randomness is not baked into the
    // component at build time (componentize-js reseeds Math.random at the
    // first call, from wasi:random). What the module's top level computed
    // is: it ran while the component was built.
    let other = run_json(&scratch, &agent, "values");
    let other: serde_json::Value = serde_json::from_str(other["output"].as_str().unwrap()).unwrap();
    for key in ["random", "random2", "getRandomValues", "randomUUID"] {
        assert_ne!(
            other["before"][key], logged[key],
            "`{key}` repeats across runs"
        );
    }
    assert_eq!(other["topLevel"], output["topLevel"]);
    assert!(output["topLevel"]["now"].as_f64().unwrap() < wall_before);
}

#[test]
fn ts_fetch_fails_with_an_error_naming_tools_and_reaches_nothing() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let scratch = Scratch::copy_of("tests/guests/ts-nondet");
    let report = run_json(&scratch, &agent, &format!("network {port}"));
    assert_eq!(report["status"], "completed", "{report}");
    let attempt: serde_json::Value =
        serde_json::from_str(report["output"].as_str().unwrap()).unwrap();
    let fetch = attempt["fetch"].as_str().unwrap();
    assert!(
        fetch.starts_with(&format!(
            "TypeError: fetch(http://127.0.0.1:{port}/) is not available in a relive agent"
        )) && fetch.contains("tools.call"),
        "{fetch}"
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection reached the listener"
    );
}

#[test]
fn ts_structured_output_sends_the_validation_error_back_and_returns_the_type() {
    let Some(agent) = example("triage-ts") else {
        return;
    };
    let scratch = Scratch::example("triage-ts");
    let report = run_json(
        &scratch,
        &agent,
        "I was charged twice for March (invoice from 2026-03-01) and cannot download my files.",
    );
    assert_eq!(report["status"], "completed", "{report}");
    let triage: serde_json::Value =
        serde_json::from_str(report["output"].as_str().unwrap()).unwrap();
    assert_eq!(triage["category"], "billing");
    assert_eq!(triage["priority"], "urgent");
    assert!(triage["reply"].as_str().unwrap().contains("refunding"));
    let entries = scratch.entries(report["id"].as_str().unwrap());
    let llm: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Llm)
        .collect();
    assert_eq!(llm.len(), 3, "tool step, invalid answer, corrected answer");
    assert!(
        llm[0].request.contains("It must match this JSON schema"),
        "{}",
        llm[0].request
    );
    let retry = &llm[2].request;
    assert!(
        retry.contains("does not match the required JSON schema"),
        "{retry}"
    );
    assert!(
        retry.contains(
            r#"`priority`: expected one of \"low\", \"normal\", \"urgent\", got \"high\""#
        ),
        "{retry}"
    );
    assert!(
        retry.contains("`reply`: is required but missing"),
        "{retry}"
    );
}

#[test]
fn relive_new_ts_project_builds_and_runs_as_it_is() {
    let Some(_) = toolchain() else {
        return;
    };
    let scratch = Scratch::new();
    let out = scratch.run(&["new", "my-agent", "--lang", "ts"]);
    assert_code(&out, 0);
    let project = scratch.file("my-agent");
    // The template pins the toolchain the repository's package.json pins,
    // and links the SDK of this checkout.
    let pins: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("package.json")).unwrap())
            .unwrap();
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("package.json")).unwrap())
            .unwrap();
    assert_eq!(package["devDependencies"], pins["devDependencies"]);
    assert_eq!(
        package["dependencies"]["relive-sdk"],
        format!(
            "file:{}",
            root()
                .join("guest-sdk/ts")
                .canonicalize()
                .unwrap()
                .display()
        )
    );
    // A second `new` into the same folder is refused.
    let again = scratch.run(&["new", "my-agent", "--lang", "ts"]);
    assert_code(&again, 1);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // What `npm install` would make: node_modules with the pinned toolchain
    // and relive-sdk linked to this checkout's SDK (the root's, from
    // `npm ci`). Then `relive build` in the project, type check included.
    std::os::unix::fs::symlink(root().join("node_modules"), project.join("node_modules")).unwrap();
    let Some(agent) = ts_agent(&project) else {
        return;
    };
    std::fs::copy(&agent, project.join("my-agent.wasm")).unwrap();
    let out = relive_bin()
        .current_dir(&project)
        .args(["run", "my-agent", "--json"])
        .args(["--input", "count the words of this"])
        .env("RELIVE_DB", project.join("relive.db"))
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(json(&out)["output"], "Your text has 5 words.");
}

#[test]
fn relive_build_ts_refuses_type_errors_and_says_what_it_needs() {
    let Some(_) = toolchain() else {
        return;
    };
    let scratch = Scratch::new();
    std::fs::write(scratch.file("package.json"), r#"{"name": "x"}"#).unwrap();
    let out = scratch.run(&["build"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("the agent's entry module is not in")
            && stderr(&out).contains("src/app.ts"),
        "{}",
        stderr(&out)
    );
    std::fs::create_dir_all(scratch.file("src")).unwrap();
    std::fs::write(
        scratch.file("src/app.ts"),
        "import { exportAgent } from \"relive-sdk\";\n\
         export const run = exportAgent((input: string) => input.lenght);\n",
    )
    .unwrap();
    // No node_modules here or above the temporary folder.
    let out = scratch.run(&["build"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("componentize-js not found") && stderr(&out).contains("npm install"),
        "{}",
        stderr(&out)
    );
    // With the toolchain, a misspelt property is a compile error: the
    // build stops before bundling.
    std::os::unix::fs::symlink(root().join("node_modules"), scratch.file("node_modules")).unwrap();
    std::fs::copy(
        root().join("templates/ts/tsconfig.json"),
        scratch.file("tsconfig.json"),
    )
    .unwrap();
    let out = scratch.run(&["build"]);
    assert_code(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("Property 'lenght' does not exist on type 'string'")
            && text.contains("tsc found type errors"),
        "{text}"
    );
    assert!(!scratch.file("x.wasm").exists());
}

#[test]
fn ts_component_importing_wasi_http_is_refused_with_the_flag_to_use() {
    let Some(bin) = toolchain() else {
        return;
    };
    // componentize-js by hand, without `--disable http fetch-event`: the
    // component imports wasi:http for `fetch`.
    let source = "export function run(input) { return `hi ${input}`; }\n";
    let digest = {
        let mut hash = Sha256::new();
        hash.update(source);
        hash.update(std::fs::read(root().join("wit/agent.wit")).unwrap());
        hash.update(std::fs::read(root().join("package-lock.json")).unwrap());
        hex::encode(hash.finalize())[..16].to_string()
    };
    let wasm = built_once("with-http", digest, |partial| {
        let dir = partial.parent().unwrap();
        std::fs::write(dir.join("with-http.js"), source).unwrap();
        run_tool(
            dir,
            &bin.join("componentize-js"),
            &[
                "with-http.js",
                "--wit",
                root().join("wit").to_str().unwrap(),
                "--world-name",
                "agent",
                "-o",
                partial.to_str().unwrap(),
            ],
        );
    });
    let scratch = Scratch::new();
    let out = scratch.run(&["run", wasm.to_str().unwrap(), "--input", "x"]);
    assert_code(&out, 1);
    let text = stderr(&out);
    assert!(
        text.contains("imports `wasi:http/") && text.contains("which relive does not grant"),
        "{text}"
    );
    assert!(text.contains("--disable http fetch-event"), "{text}");
    assert!(text.contains("`relive build`"), "{text}");
}

/// The batch calls and child runs from a real TypeScript component: how
/// componentize-js hands over WIT results and tuples, which the SDK's unit
/// tests (a fake host) cannot see.
#[test]
fn ts_batch_calls_return_errors_in_place_and_journal_in_order() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let scratch = Scratch::copy_of("tests/guests/ts-nondet");
    let report = run_json(&scratch, &agent, "batch");
    assert_eq!(report["status"], "completed", "{report}");
    let output: serde_json::Value =
        serde_json::from_str(report["output"].as_str().unwrap()).unwrap();
    let texts = |key: &str| -> Vec<String> {
        output[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}: {output}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let tools = texts("tools");
    assert_eq!(tools.len(), 2, "{output}");
    assert_eq!(tools[0], "ok: {}");
    assert!(
        tools[1].starts_with("ToolError not-found: not found: no tool `nope` is granted"),
        "{output}"
    );
    let chats = texts("chats");
    assert_eq!(chats.len(), 2, "{output}");
    for chat in &chats {
        assert!(
            chat.starts_with("LlmError denied: model denied: no model is granted"),
            "{output}"
        );
    }
    assert_eq!(texts("join"), Vec::<String>::new());
    // One entry per call, in the order given.
    let id = report["id"].as_str().unwrap();
    let entries = scratch.entries(id);
    let calls: Vec<(EntryKind, &str)> = entries
        .iter()
        .filter(|e| !matches!(e.kind, EntryKind::Clock | EntryKind::Random))
        .map(|e| (e.kind, e.name.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (EntryKind::Tool, "pause"),
            (EntryKind::Tool, "nope"),
            (EntryKind::Llm, "default"),
            (EntryKind::Llm, "large"),
            (EntryKind::Join, "join"),
        ]
    );
    let replay = export_and_replay(&scratch, id, &agent);
    assert_eq!(replay["passed"], true, "{replay}");
}

/// An agent it may not start: `agents.spawn` throws an `agents.AgentError`
/// of kind `denied` from a real component.
#[test]
fn ts_spawn_of_an_agent_not_allowed_throws_a_denied_agent_error() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let scratch = Scratch::copy_of("tests/guests/ts-nondet");
    let report = run_json(&scratch, &agent, "spawn-denied");
    assert_eq!(report["status"], "completed", "{report}");
    let output = report["output"].as_str().unwrap();
    assert!(
        output.starts_with(
            "AgentError denied: denied: agent `ts-nondet` may not start agent `stranger`; to allow it, add \"stranger\" to `agents` under [agents.ts-nondet] in "
        ),
        "{output}"
    );
}

/// A bug found here (issue 16): a spawn the run's policy refused was not
/// journaled, and its message names the configuration file of the process
/// that runs it. `relive replay` has none, so the replayed message ended
/// `in (none)` and the output differed from the recorded one (an agent loop
/// sends that message to the model, so there the next request diverged).
/// The refusal is now the spawn entry's recorded answer.
#[test]
fn ts_replay_of_a_refused_spawn_gives_the_recorded_message() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let scratch = Scratch::copy_of("tests/guests/ts-nondet");
    let report = run_json(&scratch, &agent, "spawn-denied");
    assert_eq!(report["status"], "completed", "{report}");
    let replay = export_and_replay(&scratch, report["id"].as_str().unwrap(), &agent);
    assert_eq!(replay["passed"], true, "{replay}");
}

/// A scratch copy of `examples/dispatcher-ts` whose relive.toml names the
/// TypeScript dispatcher `agent` and the Rust researcher built from source,
/// and reaches the researcher's script and tool in the repository.
fn dispatcher_scratch(agent: &Path) -> Scratch {
    let scratch = Scratch::example("dispatcher-ts");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let mut rewritten = config.clone();
    for (from, to) in [
        ("\"dispatcher-ts.wasm\"", agent.to_path_buf()),
        (
            "\"../../target/wasm32-wasip2/release/researcher.wasm\"",
            guest("researcher"),
        ),
    ] {
        assert!(rewritten.contains(from), "{from} is not in:\n{config}");
        rewritten = rewritten.replace(from, &format!("\"{}\"", to.display()));
    }
    let rewritten = rewritten.replace(
        "\"../",
        &format!("\"{}/", root().join("examples").display()),
    );
    std::fs::write(scratch.file("relive.toml"), rewritten).unwrap();
    scratch
}

fn runs_of(scratch: &Scratch) -> Vec<relive::journal::RunRecord> {
    relive::journal::all_runs(&*scratch.journal(), None).unwrap()
}

fn children_of(scratch: &Scratch, parent: &str) -> Vec<relive::journal::RunRecord> {
    runs_of(scratch)
        .into_iter()
        .filter(|r| r.parent.as_deref() == Some(parent))
        .collect()
}

const REQUEST: &str = "How does relive resume a run?";

#[test]
fn ts_dispatcher_hands_off_to_a_rust_researcher_child_run() {
    let Some(agent) = example("dispatcher-ts") else {
        return;
    };
    let scratch = dispatcher_scratch(&agent);
    let out = scratch.run(&["run", "dispatcher-ts", "--input", REQUEST, "--json"]);
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["status"], "completed", "{report}");
    // The hand-off: the researcher's answer is the dispatcher's.
    assert_eq!(
        report["output"].as_str().unwrap(),
        final_answer_of_script("researcher")
    );
    let id = report["id"].as_str().unwrap().to_string();
    let children = children_of(&scratch, &id);
    assert_eq!(children.len(), 1, "{children:?}");
    let child = &children[0];
    assert_eq!(
        (child.agent.as_str(), child.status),
        ("researcher", RunStatus::Completed)
    );
    assert_eq!(report["output"].as_str(), child.output.as_deref());
    // The loop's calls, as the Rust and Python dispatchers make them: the
    // model, then the child as a spawn and a join, its id derived from the
    // spawn's position. (StarlingMonkey reads the clock on its own.)
    let entries = scratch.entries(&id);
    let calls: Vec<(EntryKind, &str)> = entries
        .iter()
        .filter(|e| !matches!(e.kind, EntryKind::Clock | EntryKind::Random))
        .map(|e| (e.kind, e.name.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (EntryKind::Log, "info"),
            (EntryKind::Llm, "default"),
            (EntryKind::Log, "info"),
            (EntryKind::Spawn, "researcher"),
            (EntryKind::Join, "join"),
            (EntryKind::Log, "info"),
        ]
    );
    let spawn = entries.iter().find(|e| e.kind == EntryKind::Spawn).unwrap();
    assert_eq!(child.id, format!("{id}.{}", spawn.seq));
    // The hand-off tool as the Rust SDK offers it, schema byte for byte.
    let llm = entries.iter().find(|e| e.kind == EntryKind::Llm).unwrap();
    let request: serde_json::Value = serde_json::from_str(&llm.request).unwrap();
    let tool = &request["tools"][0];
    assert_eq!(tool["name"], "handoff_researcher", "{request}");
    assert_eq!(
        tool["parameters"],
        r#"{"type":"object","properties":{"input":{"type":"string","description":"what to ask the agent"}},"required":["input"]}"#,
        "{request}"
    );
    let last = &entries
        .iter()
        .rfind(|e| e.kind == EntryKind::Log)
        .unwrap()
        .request;
    assert!(last.contains("step 1: handed off"), "{last}");
    let shown = stdout(&scratch.run(&["show", &id]));
    assert!(
        shown.contains(&format!("child run {} (researcher): completed", child.id)),
        "{shown}"
    );
    // Both journals are replay tests.
    for (run, wasm) in [(&id, agent.clone()), (&child.id, guest("researcher"))] {
        let replay = export_and_replay(&scratch, run, &wasm);
        assert_eq!(replay["passed"], true, "{run}: {replay}");
    }
}

/// SIGKILL while the researcher child's second search hangs, then resume the
/// TypeScript dispatcher: the same child goes on from its journal, and the
/// search that completed before the kill ran once.
#[test]
fn ts_dispatcher_killed_during_a_childs_search_resumes_the_same_child() {
    let Some(agent) = example("dispatcher-ts") else {
        return;
    };
    let scratch = dispatcher_scratch(&agent);
    let log = scratch.file("search.log");
    let pidfile = scratch.file("hang.pid");
    let mut cmd = scratch.relive();
    cmd.args(["run", "dispatcher-ts", "--input", REQUEST])
        .env("SEARCH_LOG", &log)
        .env("SEARCH_HANG_ON", "replay")
        .env("SEARCH_HANG_PIDFILE", &pidfile);
    kill_when_tool_hangs(cmd, &pidfile);

    let parent = runs_of(&scratch)
        .into_iter()
        .find(|r| r.parent.is_none())
        .unwrap();
    assert_ne!(parent.status, RunStatus::Completed);
    let before = children_of(&scratch, &parent.id);
    assert_eq!(before.len(), 1, "{before:?}");
    let child = before[0].id.clone();
    assert_eq!(before[0].status, RunStatus::Running, "{before:?}");
    let searches: Vec<_> = scratch
        .entries(&child)
        .iter()
        .filter(|e| e.kind == EntryKind::Tool)
        .map(|e| (e.seq, e.state))
        .collect();
    assert_eq!(searches.len(), 2, "killed during the second search");
    assert_eq!(searches[0].1, EntryState::Completed);
    assert_eq!(searches[1].1, EntryState::Started);

    let out = scratch
        .relive()
        .args(["resume", &parent.id, "--json"])
        .env("SEARCH_LOG", &log)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["status"], "completed", "{report}");
    let after = children_of(&scratch, &parent.id);
    assert_eq!(after.len(), 1, "no second child: {after:?}");
    assert_eq!(after[0].id, child);
    assert_eq!(after[0].status, RunStatus::Completed);
    assert_eq!(report["output"].as_str(), after[0].output.as_deref());
    assert_eq!(
        report["output"].as_str().unwrap(),
        final_answer_of_script("researcher")
    );
    // The completed search ran once; the interrupted one ran again, with
    // the same key.
    let counts = first_word_counts(&log);
    let key = |seq: u64| format!("relive-{child}-{seq}");
    assert_eq!(counts.get(&key(searches[0].0)), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&key(searches[1].0)), Some(&2), "{counts:?}");
    assert_eq!(counts.len(), 2, "{counts:?}");
    // The output is what a replay of each final journal produces.
    for (run, wasm) in [(&parent.id, agent.clone()), (&child, guest("researcher"))] {
        let replay = export_and_replay(&scratch, run, &wasm);
        assert_eq!(replay["passed"], true, "{run}: {replay}");
    }
}
