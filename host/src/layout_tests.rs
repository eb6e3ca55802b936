//! The layout's rules, checked (ARCHITECTURE.md explains them):
//!
//! - imports run one way: each folder may use only the folders below it
//!   ([`ALLOWED`]);
//! - nothing outside `journal/` names SQLite or PostgreSQL's client: the
//!   faces, the testing library, the tests and the benchmarks open a
//!   journal with `journal::open` (tests that check something of the SQLite
//!   backend itself are listed in [`SQLITE_SPECIFIC`], each with its
//!   reason; tests may start a throw-away PostgreSQL with
//!   `journal::postgres::throwaway`, which names no client);
//! - no file over 600 lines and no function over 80 lines without a reason
//!   written at the top of the file (`Why this file is long:` /
//!   `Why … is long:`). Test scenarios are exempt from the function rule:
//!   they read top to bottom.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// For each top-level module of the crate, the modules it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    ("journal", &[]),
    ("engine", &["journal"]),
    // Configuration and the providers it configures form one layer: they
    // know neither the journal nor the engine.
    ("config", &["llm", "tools"]),
    ("llm", &["config"]),
    ("tools", &["config", "llm"]),
    ("control", &["journal"]),
    ("imports", &["engine", "journal", "config", "llm", "tools"]),
    (
        "runtime",
        &[
            "imports", "engine", "journal", "control", "config", "llm", "tools",
        ],
    ),
    ("testing", &["runtime", "journal", "engine", "config"]),
    // The faces may use everything.
];

/// Files outside `journal/` that may name a backend's client (SQLite's or
/// PostgreSQL's), and why.
const SQLITE_SPECIFIC: &[(&str, &str)] = &[
    (
        "tests/old_journals.rs",
        "stamps a journal with a newer schema version and checks SQLite's own integrity after migrating old files",
    ),
    (
        "tests/hardening.rs",
        "holds SQLite's write lock from outside to make the journal unwritable for /healthz",
    ),
    (
        "tests/serve.rs",
        "runs SQLite's integrity check on the journal a killed service left",
    ),
    (
        "tests/campaign/process.rs",
        "peeks at the entry count read-only while a run writes, to time a kill",
    ),
    (
        "tests/campaign/point.rs",
        "deletes committed entries behind the journal's back, to prove the checks catch it",
    ),
    (
        "tests/kill.rs",
        "peeks at the entry count read-only while a run writes, and checks SQLite's integrity after a kill",
    ),
    (
        "tests/bad_input.rs",
        "writes a foreign SQLite database and damaged files for the journal to refuse",
    ),
    (
        "tests/sandbox.rs",
        "runs SQLite's integrity check after a hostile run",
    ),
    (
        "host/benches/relive/sections/postgres.rs",
        "measures its floor, one plain INSERT and COMMIT through tokio-postgres, beside the journal on PostgreSQL",
    ),
    (
        "host/benches/relive/sections/pg_serve.rs",
        "reads the runs' times read-only from SQLite and PostgreSQL while the services run, for p50/p99",
    ),
    (
        "host/benches/relive/sections/serve.rs",
        "counts rows read-only while the service writes",
    ),
    (
        "host/benches/relive/sections/crash.rs",
        "peeks at the entry count read-only while a run writes, to time the kill",
    ),
    (
        "host/benches/relive/sections/replay.rs",
        "compares reading the journal with a plain SQLite SELECT, its floor",
    ),
    (
        "host/benches/relive/floors.rs",
        "measures the raw SQLite floors the journal's figures are compared with",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("fixtures") && !path.ends_with("node_modules") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `host/src` files with the top-level module each belongs to.
fn crate_files() -> Vec<(String, PathBuf)> {
    let src = root().join("host/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap().to_path_buf();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            (top, p)
        })
        .collect()
}

/// The crate modules `text` refers to (`crate::NAME`).
fn uses(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(at, _)| {
            text[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn imports_run_one_way() {
    let mut wrong = Vec::new();
    for (top, path) in crate_files() {
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == top) else {
            continue; // a face (cli, server) or the crate root
        };
        let text = std::fs::read_to_string(&path).unwrap();
        for used in uses(&text) {
            if used != top && !allowed.contains(&used.as_str()) {
                wrong.push(format!(
                    "{} uses crate::{used}, which `{top}` may not use",
                    path.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn nothing_outside_the_journal_names_sqlite() {
    let mut wrong = outside_the_journal_naming(CLIENT_NAMES);
    // An exemption is kept only while its file needs it.
    for (file, _) in SQLITE_SPECIFIC {
        let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
        if !CLIENT_NAMES.iter().any(|n| text.contains(n)) {
            wrong.push(format!(
                "{file} is listed in SQLITE_SPECIFIC but names no client: remove it there"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "open journals with relive::journal::open (or list the file in SQLITE_SPECIFIC with its reason):\n{}",
        wrong.join("\n")
    );
}

/// What names a database backend or its client.
const CLIENT_NAMES: &[&str] = &[
    "rusqlite",
    "SqliteJournal",
    "journal::sqlite",
    "tokio_postgres",
    "PgJournal",
];

/// Files outside `journal/` (crate, tests, benchmarks) that name one of
/// `needles`, except those listed in [`SQLITE_SPECIFIC`].
fn outside_the_journal_naming(needles: &[&str]) -> Vec<String> {
    let root = root();
    let mut files = Vec::new();
    for dir in ["host/src", "tests", "host/benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut wrong = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        if rel.starts_with("host/src/journal/")
            || rel == "host/src/layout_tests.rs"
            || SQLITE_SPECIFIC.iter().any(|(f, _)| *f == rel)
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for needle in needles {
            if text.contains(needle) {
                wrong.push(format!("{rel} names `{needle}`"));
            }
        }
    }
    wrong
}

/// The functions of `text` longer than `max` lines: (name, lines).
fn long_functions(text: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let signature = ["fn ", "pub fn ", "async fn ", "pub async fn "]
            .iter()
            .chain(["pub(crate) fn ", "pub(super) fn ", "pub(super) async fn "].iter())
            .any(|p| trimmed.starts_with(p));
        if !signature {
            i += 1;
            continue;
        }
        // A declaration without a body (in a trait) ends with `;` before `{`.
        let mut j = i;
        while j < lines.len() && !lines[j].contains('{') && !lines[j].trim_end().ends_with(';') {
            j += 1;
        }
        if j >= lines.len() || lines[j].trim_end().ends_with(';') {
            i = j + 1;
            continue;
        }
        if lines[j].trim_end().ends_with('}') {
            i = j + 1;
            continue; // a one-line body
        }
        let close = format!("{}}}", " ".repeat(indent));
        let end = (j..lines.len())
            .find(|&k| lines[k] == close)
            .unwrap_or(lines.len() - 1);
        let name = trimmed
            .split("fn ")
            .nth(1)
            .unwrap_or("")
            .split(['(', '<'])
            .next()
            .unwrap_or("")
            .to_string();
        if end - i + 1 > max {
            long.push((name, end - i + 1));
        }
        i += 1;
    }
    long
}

/// The top of a file, where the reasons for its length are written.
fn top_of(text: &str) -> String {
    text.lines().take(40).collect::<Vec<_>>().join("\n")
}

/// The lines of `text`, if it is over 600 without a reason at its top.
fn long_without_reason(text: &str) -> Option<usize> {
    let lines = text.lines().count();
    (lines > 600 && !top_of(text).contains("Why this file is long:")).then_some(lines)
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs")
}

#[test]
fn files_and_functions_stay_small_or_say_why() {
    let mut wrong = Vec::new();
    for (_, path) in crate_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Some(lines) = long_without_reason(&text) {
            wrong.push(format!("{} has {lines} lines", path.display()));
        }
        if is_test_file(&path) {
            continue;
        }
        let top = top_of(&text);
        for (name, n) in long_functions(&text, 80) {
            if !top.contains(&format!("Why `{name}` is long:")) {
                wrong.push(format!("{}: fn {name} has {n} lines", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "split these, or say at the top of the file why they are long:\n{}",
        wrong.join("\n")
    );
}

/// The file rule holds beyond the crate too: the tests, the benchmarks
/// and the web console.
#[test]
fn tests_benches_and_the_console_stay_small_or_say_why() {
    let root = root();
    let mut files = Vec::new();
    for dir in ["tests", "host/benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.push(root.join("host/src/server/ui/app.js"));
    let mut wrong = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Some(lines) = long_without_reason(&text) {
            let rel = path.strip_prefix(&root).unwrap().display().to_string();
            wrong.push(format!("{rel} has {lines} lines"));
        }
    }
    assert!(
        wrong.is_empty(),
        "split these, or say at the top of the file why they are long:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_long_function_finder_finds_them() {
    let body = "    x();\n".repeat(90);
    let text = format!(
        "fn short() {{ }}\ntrait T {{\n    fn decl(&self) -> u8;\n}}\npub fn long() {{\n{body}}}\n"
    );
    assert_eq!(long_functions(&text, 80), vec![("long".to_string(), 92)]);
    let uses = uses("use crate::journal::X; crate::engine::Y; \"crate::\"");
    assert_eq!(
        uses.into_iter().collect::<Vec<_>>(),
        vec!["engine".to_string(), "journal".to_string()]
    );
}

/// The journal's own types — the trait, its errors, durability, requests,
/// the data model, the export format — speak relive's terms: no database
/// client's types or words. Only the backends (`sqlite/`, `postgres/`),
/// `journal::open` and the tests that run on both name a client.
#[test]
fn the_journals_own_types_name_no_database_client() {
    let dir = root().join("host/src/journal");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let mut wrong = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&dir).unwrap().display().to_string();
        if rel.starts_with("sqlite/")
            || rel.starts_with("postgres/")
            || rel.ends_with("_tests.rs")
            || rel == "backends.rs"
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for needle in ["rusqlite", "tokio_postgres"] {
            if text.contains(needle) {
                wrong.push(format!("journal/{rel} names `{needle}`"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "map the backend's errors and types onto the journal's own in sqlite/ or postgres/:\n{}",
        wrong.join("\n")
    );
}
