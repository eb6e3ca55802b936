//! Every bad input gets a clear error that names the problem and the fix,
//! exit code 1, and leaves existing files untouched.

use crate::support::*;

fn run_component(scratch: &Scratch, bytes: &[u8]) -> std::process::Output {
    let path = scratch.file("agent.wasm");
    std::fs::write(&path, bytes).unwrap();
    scratch.run(&["run", path.to_str().unwrap(), "--input", "x"])
}

#[track_caller]
fn assert_error(out: &std::process::Output, needles: &[&str]) {
    assert_code(out, 1);
    let text = stderr(out);
    assert!(text.starts_with("error: "), "{text}");
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn missing_component_file() {
    let scratch = Scratch::new();
    let out = scratch.run(&["run", "./nope.wasm"]);
    assert_error(
        &out,
        &[
            "nope.wasm does not exist",
            "cargo build --target wasm32-wasip2",
        ],
    );
}

#[test]
fn file_that_is_not_wasm() {
    let out = run_component(&Scratch::new(), b"#!/bin/sh\necho hello\n");
    assert_error(&out, &["is not a WebAssembly file", "wasm32-wasip2"]);
}

#[test]
fn core_module_instead_of_component() {
    let out = run_component(&Scratch::new(), &wat::parse_str("(module)").unwrap());
    assert_error(
        &out,
        &[
            "is a core WebAssembly module, not a component",
            "wasm32-wasip2",
        ],
    );
}

#[test]
fn component_without_run_export() {
    let out = run_component(&Scratch::new(), &wat::parse_str("(component)").unwrap());
    assert_error(
        &out,
        &[
            "does not implement the relive:agent world (0.1.x)",
            "no export `run`",
            "export_agent!",
        ],
    );
}

#[test]
fn component_with_unknown_import() {
    let bytes = wat::parse_str(
        r#"(component (import "acme:evil/api@1.0.0" (instance (export "f" (func)))))"#,
    )
    .unwrap();
    let out = run_component(&Scratch::new(), &bytes);
    assert_error(
        &out,
        &[
            "does not implement the relive:agent world (0.1.x)",
            "acme:evil/api@1.0.0",
        ],
    );
}

#[test]
fn corrupt_database_is_refused_and_left_alone() {
    let scratch = Scratch::example("stepper");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(scratch.db(), &garbage).unwrap();
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "1"])
        .output()
        .unwrap();
    assert_error(
        &out,
        &["is not a relive journal", "not an SQLite database", "--db"],
    );
    assert_eq!(
        std::fs::read(scratch.db()).unwrap(),
        garbage,
        "the file must not be touched"
    );
    assert_error(&scratch.run(&["runs"]), &["not an SQLite database"]);
}

#[test]
fn foreign_sqlite_database_is_refused() {
    let scratch = Scratch::example("stepper");
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    conn.execute_batch("CREATE TABLE cats (name TEXT); INSERT INTO cats VALUES ('tom');")
        .unwrap();
    drop(conn);
    let out = scratch
        .relive()
        .arg("run")
        .arg(guest("stepper"))
        .args(["--input", "1"])
        .output()
        .unwrap();
    assert_error(
        &out,
        &[
            "is an SQLite database but not a relive journal",
            "cats",
            "--db",
        ],
    );
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM cats", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn unknown_run_id() {
    let scratch = Scratch::example("stepper");
    assert_code(
        &scratch
            .relive()
            .arg("run")
            .arg(guest("stepper"))
            .args(["--input", "1", "-q"])
            .output()
            .unwrap(),
        0,
    );
    for cmd in ["resume", "show", "export"] {
        let out = scratch.run(&[cmd, "zzzzzzzz"]);
        assert_error(&out, &["no run with id `zzzzzzzz`", "relive runs"]);
    }
}

#[test]
fn missing_journal_for_read_commands() {
    let scratch = Scratch::new();
    let out = scratch.run(&["runs"]);
    assert_error(&out, &["no journal at", "relive run"]);
    assert!(
        !scratch.db().exists(),
        "a read command must not create a journal"
    );
}

#[test]
fn config_errors_name_the_key() {
    let scratch = Scratch::new();
    let cases = [
        (
            "[tools.t]\ncommand = [\"x\"]\nidempotnet = true\n",
            "idempotnet",
        ),
        ("[agents.a]\ntools = [\"search\"]\n", "agents.a.tools"),
        (
            "[models.m]\nprovider = \"openai\"\nbase_url = \"localhost:11434\"\nmodel = \"x\"\n",
            "models.m.base_url",
        ),
        (
            "[models.m]\nprovider = \"scripted\"\nscript = \"missing.json\"\n",
            "models.m.script",
        ),
        ("[journal]\nfsync = \"sometimes\"\n", "sometimes"),
    ];
    for (text, key) in cases {
        std::fs::write(scratch.file("relive.toml"), text).unwrap();
        let out = scratch.run(&["run", "whatever.wasm"]);
        assert_error(&out, &["relive.toml", key]);
    }
}

#[test]
fn agent_name_not_in_config() {
    let scratch = Scratch::example("stepper");
    let out = scratch.run(&["run", "nobody"]);
    assert_error(
        &out,
        &[
            "`nobody` is neither a component file nor an agent",
            "[agents.nobody]",
        ],
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = relive_bin().args(["run"]).output().unwrap();
    assert_code(&out, 2);
    let out = relive_bin()
        .args(["resolve", "abc", "--retry", "--fail"])
        .output()
        .unwrap();
    assert_code(&out, 2);
}
