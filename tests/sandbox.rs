//! Hostile guests: each attack gets a clear error naming the limit or the
//! grant, while a concurrent run in the same journal carries on and the
//! journal stays consistent.

use crate::support::*;
use std::process::{Output, Stdio};

fn attack(scratch: &Scratch, what: &str) -> Output {
    scratch
        .relive()
        .arg("run")
        .arg(guest("hostile"))
        .args(["--input", what, "--json"])
        .output()
        .unwrap()
}

#[track_caller]
fn assert_failed_with(out: &Output, needles: &[&str]) -> serde_json::Value {
    assert_code(out, 3);
    let report = json(out);
    assert_eq!(report["status"], "failed", "{report}");
    let error = report["error"].as_str().unwrap_or_default();
    for needle in needles {
        assert!(error.contains(needle), "missing {needle:?} in: {error}");
    }
    report
}

fn hostile() -> Scratch {
    Scratch::copy_of("tests/guests/hostile")
}

#[test]
fn infinite_loop_runs_out_of_fuel_while_another_run_carries_on() {
    let scratch = hostile();
    // A stepper run in the same journal, in another process, at the same time.
    std::fs::copy(
        root().join("examples/stepper/tools/tally.sh"),
        scratch.file("tally.sh"),
    )
    .unwrap();
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap()
        + "\n[tools.tally]\ncommand = [\"sh\", \"tally.sh\"]\nidempotent = true\n[agents.stepper]\ntools = [\"tally\"]\n[agents.stepper.limits]\nfuel = 20000000000\n";
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    let neighbour = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "30", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = attack(&scratch, "loop");
    assert_failed_with(
        &out,
        &[
            "used up its fuel",
            "200000000 guest instructions",
            "`fuel`",
            "[agents.hostile.limits]",
        ],
    );
    let neighbour = neighbour.wait_with_output().unwrap();
    assert_code(&neighbour, 0);
    let report = json(&neighbour);
    assert_eq!(report["status"], "completed");
    let id = report["id"].as_str().unwrap();
    assert_eq!(
        export_and_replay(&scratch, id, &guest("stepper"))["passed"],
        true
    );
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn memory_bomb_is_refused_at_the_limit() {
    assert_failed_with(
        &attack(&hostile(), "memory"),
        &["over the limit of 67108864 bytes (64 MiB)", "memory_mib"],
    );
}

#[test]
fn unbounded_recursion_is_stopped() {
    assert_failed_with(&attack(&hostile(), "recurse"), &["overflowed its stack"]);
}

#[test]
fn huge_host_call_argument_is_refused() {
    let scratch = hostile();
    // Enough memory and fuel to build the 100 MB argument: the host-call limit, not
    // the memory limit, must stop it.
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap();
    std::fs::write(
        scratch.file("relive.toml"),
        config
            .replace("memory_mib = 64", "memory_mib = 512")
            .replace("fuel = 200000000", "fuel = 5000000000"),
    )
    .unwrap();
    let report = assert_failed_with(
        &attack(&scratch, "big-arg"),
        &[
            "over the limit of 16777216 bytes per host call",
            "max_call_bytes",
        ],
    );
    // Nothing of the refused call reached the journal.
    let entries = scratch.entries(report["id"].as_str().unwrap());
    assert!(entries.iter().all(|e| e.request.len() < 1 << 20));
}

#[test]
fn unknown_and_ungranted_tools_and_unlisted_models_are_refused() {
    let scratch = hostile();
    assert_failed_with(
        &attack(&scratch, "unknown-tool"),
        &[
            "no tool `no-such-tool` is granted to agent `hostile`",
            "granted: echo",
        ],
    );
    assert_failed_with(
        &attack(&scratch, "ungranted-tool"),
        &[
            "no tool `secret` is granted",
            "add \"secret\" to `tools` under [agents.hostile]",
        ],
    );
    assert_failed_with(
        &attack(&scratch, "unlisted-model"),
        &["no model is granted to agent `hostile`", "models = "],
    );
    let ok = attack(&scratch, "ok");
    assert_code(&ok, 0);
}

#[test]
fn host_call_count_is_limited() {
    let scratch = Scratch::example("stepper");
    let config = std::fs::read_to_string(scratch.file("relive.toml")).unwrap()
        + "\n[agents.stepper.limits]\nmax_host_calls = 10\n";
    std::fs::write(scratch.file("relive.toml"), config).unwrap();
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "5", "--json"])
        .output()
        .unwrap();
    assert_failed_with(&out, &["made 10 host calls, the limit", "max_host_calls"]);
}

#[test]
fn network_imports_are_refused_before_the_component_runs() {
    let scratch = Scratch::new();
    for import in ["wasi:sockets/tcp@0.2.0", "wasi:http/outgoing-handler@0.2.0"] {
        let wat = format!(r#"(component (import "{import}" (instance)))"#);
        let path = scratch.file("net.wasm");
        std::fs::write(&path, wat::parse_str(&wat).unwrap()).unwrap();
        let out = scratch.run(&["run", path.to_str().unwrap()]);
        assert_code(&out, 1);
        let text = stderr(&out);
        assert!(
            text.contains(&format!("imports `{import}`, which relive does not grant")),
            "{text}"
        );
        assert!(text.contains("granted tool"), "{text}");
    }
    assert!(
        !scratch.db().exists()
            || relive::journal::Journal::runs(&scratch.journal())
                .unwrap()
                .is_empty(),
        "no run was created"
    );
}
