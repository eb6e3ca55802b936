//! Agents in Python (issue 14): real components built by `relive build`
//! (componentize-py) from the examples' and test guests' source, run by the
//! real binary, killed with SIGKILL, resumed and replayed.
//!
//! Why this file is long: every Python scenario of issues 14 and 16 shares
//! one build cache of the 18.5 MB components (each is built once per test
//! process), which lives here; split, each part would build them again.
//!
//! componentize-py comes from `RELIVE_COMPONENTIZE_PY`, else from the
//! virtual environment `.ci/run` makes: `target/venv/bin/componentize-py`.
//! Without it these tests are skipped with a note, except under CI (`CI`
//! set), where that is a failure.
//!
//! A Python component is about 18.5 MB with CPython inside: building one
//! takes 15-30 s and compiling it another 15-30 s. So each is built once
//! per test process (and kept in `target/python-guests/` under a hash of its
//! sources, for the next process), then compiled once into the shared disk
//! cache (`RELIVE_CACHE_DIR`, see `support::relive_bin`) before any test
//! runs it.

use crate::support::*;
use relive::journal::{EntryKind, EntryState, RunStatus};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// componentize-py, or `None` (with a note) when it is not installed.
fn componentize_py() -> Option<PathBuf> {
    let path = std::env::var_os("RELIVE_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/venv/bin/componentize-py"));
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "componentize-py is not at {}; install it with `python3 -m venv target/venv && target/venv/bin/pip install -r guest-sdk/python/requirements-dev.txt` (what .ci/run does), or set RELIVE_COMPONENTIZE_PY",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipping a Python test: {why}");
    None
}

/// Everything a build of the Python project `dir` depends on, hashed.
fn sources_digest(dir: &Path, componentize: &Path) -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut collect = |d: &Path| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e == "py" || e == "toml" || e == "wit")
            })
            .collect();
        found.sort();
        files.extend(found);
    };
    collect(dir);
    collect(&root().join("guest-sdk/python/relive_sdk"));
    collect(&root().join("wit"));
    let mut hash = Sha256::new();
    hash.update(componentize.to_string_lossy().as_bytes());
    for f in files {
        hash.update(f.file_name().unwrap().to_string_lossy().as_bytes());
        hash.update(std::fs::read(&f).unwrap());
    }
    hex::encode(hash.finalize())[..16].to_string()
}

/// The Python agent project `dir` built into a component with
/// `relive build` (the SDK from this checkout), once per test process, and
/// compiled into the shared cache.
fn python_agent(dir: &Path) -> Option<PathBuf> {
    static BUILT: Mutex<Vec<(PathBuf, Arc<OnceLock<PathBuf>>)>> = Mutex::new(Vec::new());
    let componentize = componentize_py()?;
    let cell = {
        let mut built = BUILT.lock().unwrap();
        match built.iter().find(|(d, _)| d == dir) {
            Some((_, cell)) => cell.clone(),
            None => {
                let cell = Arc::new(OnceLock::new());
                built.push((dir.to_path_buf(), cell.clone()));
                cell
            }
        }
    };
    let path = cell.get_or_init(|| {
        let name = dir.file_name().unwrap().to_string_lossy();
        let out_dir = root().join("target/python-guests");
        std::fs::create_dir_all(&out_dir).unwrap();
        let wasm = out_dir
            .join(sources_digest(dir, &componentize))
            .join(format!("{name}.wasm"));
        if !wasm.is_file() {
            std::fs::create_dir_all(wasm.parent().unwrap()).unwrap();
            let partial = wasm.with_extension("partial");
            let out = relive_bin()
                .arg("build")
                .arg(dir)
                .arg("-p")
                .arg(root().join("guest-sdk/python"))
                .arg("-o")
                .arg(&partial)
                .env("RELIVE_COMPONENTIZE_PY", &componentize)
                .output()
                .unwrap();
            assert_code(&out, 0);
            std::fs::rename(&partial, &wasm).unwrap();
        }
        // Compile it once, into the cache every test's relive uses: a run
        // on a throwaway journal (its input makes it stop at once).
        let scratch = Scratch::new();
        let _ = scratch.run(&["run", wasm.to_str().unwrap(), "-q"]);
        wasm
    });
    Some(path.clone())
}

fn example(name: &str) -> Option<PathBuf> {
    python_agent(&root().join("examples").join(name))
}

fn nondet_guest() -> Option<PathBuf> {
    python_agent(&root().join("tests/guests/py-nondet"))
}

/// The researcher with one word of its system prompt changed: a changed
/// build of the same agent.
fn changed_researcher() -> Option<PathBuf> {
    let dir = root().join("target/python-guests/src/researcher-py-changed");
    std::fs::create_dir_all(&dir).unwrap();
    let source = root().join("examples/researcher-py");
    for file in ["pyproject.toml", "app.py"] {
        let text = std::fs::read_to_string(source.join(file)).unwrap();
        let text = if file == "app.py" {
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
    python_agent(&dir)
}

const QUESTION: &str = "How does relive resume a crashed run?";

/// `relive run AGENT --input INPUT --json`, as the agent named like the
/// component file (`researcher-py`, as in the example's relive.toml).
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

#[test]
fn python_sdk_unit_tests_and_types_pass() {
    let Some(componentize) = componentize_py() else {
        return;
    };
    let venv_bin = componentize.parent().unwrap();
    let sdk = root().join("guest-sdk/python");
    let out = Command::new(venv_bin.join("python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&sdk)
        .env("RELIVE_COMPONENTIZE_PY", &componentize)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pytest failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains(" passed"), "{}", stdout(&out));

    // mypy --strict (pyproject.toml) on the SDK and its tests, with the
    // bindings generated from the WIT, as componentize-py makes them.
    let bindings = Scratch::new();
    let out = Command::new(&componentize)
        .args(["-q", "-d"])
        .arg(root().join("wit"))
        .args(["-w", "agent", "bindings"])
        .arg(bindings.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = Command::new(venv_bin.join("python"))
        .args([
            "-m",
            "mypy",
            "--no-incremental",
            "relive_sdk",
            "tests",
            "conftest.py",
        ])
        .current_dir(&sdk)
        .env("MYPYPATH", bindings.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mypy --strict failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn python_researcher_completes_and_replays() {
    let Some(agent) = example("researcher-py") else {
        return;
    };
    let scratch = Scratch::example("researcher-py");
    let report = run_json(&scratch, &agent, QUESTION);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(
        report["output"].as_str().unwrap(),
        final_answer_of_script("researcher-py")
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
fn python_researcher_killed_mid_run_resumes_without_rerunning_completed_tools() {
    let Some(agent) = example("researcher-py") else {
        return;
    };
    let scratch = Scratch::example("researcher-py");
    let log = scratch.file("search.log");
    let pidfile = scratch.file("hang.pid");
    let mut cmd = scratch.relive();
    cmd.arg("run")
        .arg(&agent)
        .args(["--as", "researcher-py", "--input", QUESTION])
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
    assert_eq!(output, final_answer_of_script("researcher-py"));

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
fn python_example_fixtures_replay() {
    for example_name in ["researcher-py", "triage-py", "dispatcher-py"] {
        let Some(agent) = example(example_name) else {
            return;
        };
        for (fixture, report) in replay_fixtures(example_name, &agent) {
            assert_eq!(report["passed"], true, "{fixture}: {report}");
        }
    }
}

#[test]
fn changed_python_build_diverges_at_the_changed_llm_call() {
    let Some(changed) = changed_researcher() else {
        return;
    };
    let fixture = root().join("examples/researcher-py/fixtures/resume-question.jsonl");
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
fn python_exception_fails_the_run_with_its_traceback() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let scratch = Scratch::copy_of("tests/guests/py-nondet");
    let out = scratch
        .relive()
        .arg("run")
        .arg(&agent)
        .args(["--as", "py-nondet", "--input", "raise", "--json"])
        .output()
        .unwrap();
    assert_code(&out, 3);
    let report = json(&out);
    assert_eq!(report["status"], "failed");
    let error = report["error"].as_str().unwrap();
    for needle in [
        "Traceback (most recent call last):",
        "app.py\", line",
        "in explode",
        "ValueError: boom from python",
    ] {
        assert!(error.contains(needle), "missing {needle:?} in:\n{error}");
    }
    assert_eq!(
        scratch
            .run_record(report["id"].as_str().unwrap())
            .error
            .as_deref(),
        Some(error)
    );
}

#[test]
fn python_time_datetime_random_uuid_and_secrets_replay_exactly_after_a_kill() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let scratch = Scratch::copy_of("tests/guests/py-nondet");
    let pidfile = scratch.file("pause.pid");
    let mut cmd = scratch.relive();
    cmd.arg("run")
        .arg(&agent)
        .args(["--as", "py-nondet", "--input", "values"])
        .env("PAUSE_PIDFILE", &pidfile);
    let wall_before = now_secs();
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
    for key in [
        "time",
        "now",
        "random",
        "randint",
        "uuid4",
        "secrets",
        "urandom",
        "monotonic",
    ] {
        assert_eq!(
            output["before"][key], logged[key],
            "`{key}` differs after the resume"
        );
    }
    // The values are real: today's time, a version-4 UUID, fresh randomness.
    let time = logged["time"].as_f64().unwrap();
    assert!(
        time >= wall_before - 1.0 && time <= now_secs() + 1.0,
        "{time}"
    );
    assert_eq!(&logged["uuid4"].as_str().unwrap()[14..15], "4");
    assert_ne!(output["before"]["random"], output["after"]["random"]);
    assert_ne!(output["before"]["uuid4"], output["after"]["uuid4"]);
    assert_ne!(output["before"]["secrets"], output["after"]["secrets"]);
    // A replay of the whole journal reproduces the output exactly.
    assert_eq!(export_and_replay(&scratch, &id, &agent)["passed"], true);

    // Another run reads other values: the randomness is not baked into
    // the component at build time.
    let other = run_json(&scratch, &agent, "values");
    let other: serde_json::Value = serde_json::from_str(other["output"].as_str().unwrap()).unwrap();
    for key in ["random", "randint", "uuid4", "secrets", "urandom"] {
        assert_ne!(
            other["before"][key], logged[key],
            "`{key}` repeats across runs"
        );
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn python_agent_cannot_open_a_socket_or_resolve_a_name() {
    let Some(agent) = nondet_guest() else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let scratch = Scratch::copy_of("tests/guests/py-nondet");
    let report = run_json(&scratch, &agent, &format!("network {port}"));
    assert_eq!(report["status"], "completed", "{report}");
    let attempts: HashMap<String, String> =
        serde_json::from_str(report["output"].as_str().unwrap()).unwrap();
    assert_eq!(attempts.len(), 5, "{attempts:?}");
    for (what, result) in &attempts {
        assert!(
            !result.starts_with("succeeded"),
            "{what} succeeded: {result}"
        );
    }
    assert!(
        attempts["tcp"].starts_with("PermissionError"),
        "{attempts:?}"
    );
    assert!(
        attempts["udp"].starts_with("PermissionError"),
        "{attempts:?}"
    );
    assert!(
        attempts["listen"].starts_with("PermissionError"),
        "{attempts:?}"
    );
    // Name lookups reach wasi:sockets/ip-name-lookup and are denied there.
    for lookup in ["getaddrinfo", "gethostbyname"] {
        assert!(
            attempts[lookup].starts_with("gaierror")
                || attempts[lookup].starts_with("PermissionError"),
            "{lookup}: {}",
            attempts[lookup]
        );
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection reached the listener"
    );
}

#[test]
fn python_structured_output_sends_the_validation_error_back_and_returns_the_type() {
    let Some(agent) = example("triage-py") else {
        return;
    };
    let scratch = Scratch::example("triage-py");
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
fn relive_new_python_project_builds_and_runs_as_it_is() {
    if componentize_py().is_none() {
        return;
    }
    let scratch = Scratch::new();
    let out = scratch.run(&["new", "my-agent", "--lang", "python"]);
    assert_code(&out, 0);
    let project = scratch.file("my-agent");
    // The template pins the componentize-py that .ci/run installs.
    let pinned = std::fs::read_to_string(root().join("guest-sdk/python/requirements-dev.txt"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("componentize-py=="))
        .unwrap()
        .to_string();
    let requirements = std::fs::read_to_string(project.join("requirements.txt")).unwrap();
    assert!(requirements.contains(&pinned), "{requirements}");
    assert!(requirements.contains(&format!(
        "relive-sdk @ file://{}",
        root().join("guest-sdk/python").canonicalize().unwrap().display()
    )));
    // A second `new` into the same folder is refused.
    let again = scratch.run(&["new", "my-agent", "--lang", "python"]);
    assert_code(&again, 1);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // `relive build` in the project (the SDK from this checkout, as
    // `pip install -r requirements.txt` would install it).
    let Some(agent) = python_agent(&project) else {
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
fn relive_new_rust_project_builds_and_runs_as_it_is() {
    // The workspace's guests first: the new project then reuses their
    // compiled dependencies (same target folder, same lock file).
    let _ = guest("researcher");
    let scratch = Scratch::new();
    assert_code(&scratch.run(&["new", "my-rs", "--lang", "rust"]), 0);
    let project = scratch.file("my-rs");
    std::fs::copy(root().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let out = relive_bin()
        .current_dir(&project)
        .arg("build")
        .env("CARGO_TARGET_DIR", root().join("target"))
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("relive: built ./my-rs.wasm"),
        "{}",
        stderr(&out)
    );
    let out = relive_bin()
        .current_dir(&project)
        .args(["run", "my-rs", "--json", "--input", "hi"])
        .env("RELIVE_DB", project.join("relive.db"))
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(
        json(&out)["output"],
        "Hello! I am my-rs, running inside relive."
    );
}

#[test]
fn relive_build_says_what_it_needs() {
    let scratch = Scratch::new();
    let out = scratch.run(&["build"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("has no package.json, pyproject.toml or Cargo.toml")
            && stderr(&out).contains("relive new NAME --lang ts` (or python, rust)"),
        "{}",
        stderr(&out)
    );
    std::fs::write(scratch.file("pyproject.toml"), "[project]\nname = \"x\"\n").unwrap();
    let out = scratch.run(&["build"]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("the agent's module `app` is not in"),
        "{}",
        stderr(&out)
    );
    std::fs::write(scratch.file("app.py"), "").unwrap();
    let out = scratch
        .relive()
        .arg("build")
        .env(
            "RELIVE_COMPONENTIZE_PY",
            scratch.file("no-such-componentize-py"),
        )
        .output()
        .unwrap();
    assert_code(&out, 1);
    assert!(stderr(&out).contains("cannot run"), "{}", stderr(&out));
}

/// A scratch copy of `examples/dispatcher-py` whose relive.toml names the
/// Python dispatcher `agent` and the Rust researcher built from source, and
/// reaches the researcher's script and tool in the repository.
fn dispatcher_scratch(agent: &Path) -> Scratch {
    let scratch = Scratch::example("dispatcher-py");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    let mut rewritten = config.clone();
    for (from, to) in [
        ("\"dispatcher-py.wasm\"", agent.to_path_buf()),
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
fn python_dispatcher_hands_off_to_a_rust_researcher_child_run() {
    let Some(agent) = example("dispatcher-py") else {
        return;
    };
    let scratch = dispatcher_scratch(&agent);
    let out = scratch.run(&["run", "dispatcher-py", "--input", REQUEST, "--json"]);
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
    // The loop's calls, as the Rust dispatcher makes them: the model, then
    // the child as a spawn and a join, its id derived from the spawn's
    // position.
    let entries = scratch.entries(&id);
    let calls: Vec<(EntryKind, &str)> = entries
        .iter()
        .filter(|e| e.kind != EntryKind::Random)
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
    let last = &entries.last().unwrap().request;
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
/// Python dispatcher: the same child goes on from its journal, and the
/// search that completed before the kill ran once.
#[test]
fn python_dispatcher_killed_during_a_childs_search_resumes_the_same_child() {
    let Some(agent) = example("dispatcher-py") else {
        return;
    };
    let scratch = dispatcher_scratch(&agent);
    let log = scratch.file("search.log");
    let pidfile = scratch.file("hang.pid");
    let mut cmd = scratch.relive();
    cmd.args(["run", "dispatcher-py", "--input", REQUEST])
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
