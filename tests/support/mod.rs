//! Shared pieces of the end-to-end tests: guest components built from the
//! examples' source, a scratch folder per test, and the real `relive`
//! binary.

#![allow(dead_code)]

use relive::journal::{Entry, Journal, OpenOptions, RunRecord, RunStatus};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds guest crates for wasm32-wasip2 into `target_dir`, once per
/// (target dir, features) for this test process.
fn build_guests(target_dir: &Path, packages: &[&str], features: Option<&str>) {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root())
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    if let Some(f) = features {
        cmd.args(["--features", f]);
    }
    let status = cmd.status().expect("cargo runs");
    assert!(
        status.success(),
        "building the guests failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"
    );
}

/// The component `name` (an example or a test guest), built from source.
pub fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let dir = root().join("target");
        build_guests(
            &dir,
            &[
                "researcher",
                "stepper",
                "hostile",
                "waiter",
                "approver",
                "mixed",
                "tree",
                "dispatcher",
                "planner",
            ],
            None,
        );
        dir.join("wasm32-wasip2/release")
    });
    dir.join(format!("{name}.wasm"))
}

/// The stepper built with its `changed` feature: same agent, one changed
/// tool argument at step 3.
pub fn changed_stepper() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = root().join("target/guest-changed");
            build_guests(&dir, &["stepper"], Some("stepper/changed"));
            dir.join("wasm32-wasip2/release/stepper.wasm")
        })
        .clone()
}

/// The stepper built with a feature (`patched`, `retired`), in a target
/// folder of its own.
pub fn stepper_with(feature: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if let Some((_, path)) = built.iter().find(|(f, _)| f == feature) {
        return path.clone();
    }
    let dir = root().join(format!("target/guest-{feature}"));
    build_guests(&dir, &["stepper"], Some(&format!("stepper/{feature}")));
    let path = dir.join("wasm32-wasip2/release/stepper.wasm");
    built.push((feature.to_string(), path.clone()));
    path
}

/// A scratch folder holding a copy of an example's files (relive.toml,
/// tools, scripts) and its own journal.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    /// The journal's PostgreSQL URL, when the journal is not `db()`.
    pub db_url: Option<String>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("relive-e2e-")
                .tempdir()
                .expect("temp dir"),
            db_url: None,
        }
    }

    /// A scratch copy of `examples/<name>` (without its src/).
    pub fn example(name: &str) -> Scratch {
        Scratch::copy_of(&format!("examples/{name}"))
    }

    /// A scratch copy of the folder `dir` of the repository (without its
    /// src/ and Cargo.toml).
    pub fn copy_of(dir: &str) -> Scratch {
        let scratch = Scratch::new();
        copy_dir(&root().join(dir), scratch.path(), &["src", "Cargo.toml"]);
        scratch
    }

    /// The same folder with its journal in a PostgreSQL schema of its own
    /// (see [`postgres_url`]).
    pub fn on_postgres(mut self, test: &str) -> Scratch {
        self.db_url = Some(postgres_url(test));
        self
    }

    /// Where the journal is: the PostgreSQL URL, or `db()`.
    pub fn location(&self) -> relive::journal::Location {
        match &self.db_url {
            Some(url) => relive::journal::Location::Postgres(url.clone()),
            None => relive::journal::Location::Sqlite(self.db()),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub fn db(&self) -> PathBuf {
        self.file("relive.db")
    }

    /// `relive` with `--db` and `--config` pointing into this folder, run
    /// from it.
    pub fn relive(&self) -> Command {
        let mut cmd = relive_bin();
        cmd.current_dir(self.path());
        match &self.db_url {
            Some(url) => cmd.env("RELIVE_DB", url),
            None => cmd.env("RELIVE_DB", self.db()),
        };
        if self.file("relive.toml").exists() {
            cmd.env("RELIVE_CONFIG", self.file("relive.toml"));
        }
        cmd
    }

    /// Runs `relive ARGS` here and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.relive().args(args).output().expect("relive runs")
    }

    /// Opens this folder's journal for reading.
    pub fn journal(&self) -> std::sync::Arc<dyn Journal> {
        relive::journal::open(self.location(), OpenOptions::default()).expect("journal opens")
    }

    pub fn entries(&self, run: &str) -> Vec<Entry> {
        self.journal().entries(run).expect("entries read")
    }

    pub fn run_record(&self, run: &str) -> RunRecord {
        self.journal().find_run(run).expect("run exists")
    }
}

/// A URL of a PostgreSQL schema of its own for `test`, in the throw-away
/// cluster of this test process (or the server `RELIVE_TEST_PG_URL` names).
pub fn postgres_url(test: &str) -> String {
    use relive::journal::postgres::throwaway;
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let server = throwaway::shared().unwrap_or_else(|e| panic!("{e}"));
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name: String = format!("e{}_{n}_{test}", std::process::id())
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(60)
        .collect();
    throwaway::schema_url(&server, &name).unwrap_or_else(|e| panic!("{e}"))
}

/// The real binary, with a shared compilation cache inside target/.
pub fn relive_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relive"));
    cmd.env("RELIVE_CACHE_DIR", root().join("target/relive-test-cache"))
        .env_remove("RELIVE_DB")
        .env_remove("RELIVE_CONFIG");
    cmd
}

fn copy_dir(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if skip.contains(&name_str.as_ref())
            || name_str.starts_with("relive.db")
            || name_str == "tally.log"
            || name_str == "outbox.log"
        {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target, &[]);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one JSON object printed by `--json`.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

/// Asserts the exit code, showing the output when it differs.
#[track_caller]
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// Runs `relive export RUN` and `relive replay COMPONENT FILE --json`;
/// returns the replay's JSON report.
pub fn export_and_replay(scratch: &Scratch, run: &str, component: &Path) -> serde_json::Value {
    let file = scratch.file(&format!("{run}.jsonl"));
    let out = scratch.run(&["export", run, "-o", file.to_str().unwrap()]);
    assert_code(&out, 0);
    let out = relive_bin()
        .arg("replay")
        .arg(component)
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    json(&out)
}

/// Serves `app` on 127.0.0.1 (a free port) from a thread of its own, for
/// the life of the test process; returns `http://127.0.0.1:PORT`.
pub fn serve(app: axum::Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// How often each first word occurs at the start of a line of `path` (a
/// tool's execution log: idempotency key → executions); empty if the file
/// does not exist.
pub fn first_word_counts(path: &Path) -> std::collections::HashMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut counts = std::collections::HashMap::new();
    for line in text.lines() {
        let key = line.split_whitespace().next().unwrap_or_default();
        *counts.entry(key.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Kills `relive run` once `pidfile` names the hung tool's process;
/// returns the run id.
pub fn kill_while_tool_hangs(cmd: Command, scratch: &Scratch, pidfile: &Path) -> String {
    kill_when_tool_hangs(cmd, pidfile);
    let runs = relive::journal::all_runs(&*scratch.journal(), None).unwrap();
    assert_eq!(
        runs[0].status,
        RunStatus::Running,
        "a killed run stays running"
    );
    runs[0].id.clone()
}

/// Starts `cmd` (a `relive` command), SIGKILLs it once `pidfile` names the
/// process of a hung tool, then ends that process too.
pub fn kill_when_tool_hangs(mut cmd: Command, pidfile: &Path) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let lines = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    while !pidfile.exists() {
        assert!(
            Instant::now() < deadline,
            "the tool never hung; relive said:\n{}",
            seen.lock().unwrap().join("\n")
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "relive ended ({status}) before the tool hung:\n{}",
                seen.lock().unwrap().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(50)); // the PID is written
    let pid = std::fs::read_to_string(pidfile).unwrap();
    let _ = Command::new("kill").args(["-9", pid.trim()]).status();
}

/// `relive replay COMPONENT FIXTURE --json` for every fixture of `example`.
pub fn replay_fixtures(example: &str, component: &Path) -> Vec<(String, serde_json::Value)> {
    let dir = root().join("examples").join(example).join("fixtures");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty(), "{example} has no fixtures");
    fixtures
        .into_iter()
        .map(|f| {
            let out = relive_bin()
                .arg("replay")
                .arg(component)
                .arg(&f)
                .arg("--json")
                .output()
                .unwrap();
            (f.display().to_string(), json(&out))
        })
        .collect()
}
