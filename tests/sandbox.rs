//! Hostile guests: each attack gets a clear error naming the limit or the
//! grant, while a concurrent run in the same journal carries on and the
//! journal stays consistent.

use crate::support::*;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn attack(scratch: &Scratch, what: &str) -> Output {
    scratch
        .relive()
        .arg("run")
        .arg(guest("hostile"))
        .args(["--input", what, "--json"])
        .output()
        .unwrap()
}

/// Like [`attack`], but inside a new, empty network namespace
/// (`unshare -n`): even if the protection under test were broken, no packet
/// could leave this machine.
fn attack_offline(scratch: &Scratch, what: &str) -> Output {
    let mut inner = scratch.relive();
    inner
        .arg("run")
        .arg(guest("hostile"))
        .args(["--input", what, "--json"]);
    let mut cmd = std::process::Command::new("unshare");
    cmd.arg("-n")
        .arg(inner.get_program())
        .args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("unshare runs");
    assert!(
        !String::from_utf8_lossy(&out.stderr).starts_with("unshare:"),
        "this test needs `unshare -n` (root, util-linux) so that nothing can leave the machine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
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
fn http_imports_are_refused_before_the_component_runs() {
    let scratch = Scratch::new();
    let import = "wasi:http/outgoing-handler@0.2.0";
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
    assert!(text.contains("`tools.call`"), "{text}");
    assert!(
        !scratch.db().exists()
            || relive::journal::all_runs(&*scratch.journal(), None)
                .unwrap()
                .is_empty(),
        "no run was created"
    );
}

/// `wasi:sockets` is linked with every operation denied (runtimes such as
/// CPython import it), so a component importing it gets past the import
/// check; `tests/python.rs` proves that nothing can connect or resolve.
#[test]
fn socket_imports_are_linked_not_refused() {
    let scratch = Scratch::new();
    let wat = r#"(component (import "wasi:sockets/tcp@0.2.0" (instance)))"#;
    let path = scratch.file("sockets.wasm");
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    let out = scratch.run(&["run", path.to_str().unwrap()]);
    assert_code(&out, 1);
    let text = stderr(&out);
    assert!(!text.contains("does not grant"), "{text}");
    assert!(text.contains("it has no export `run`"), "{text}");
}

/// The hostile scratch folder with `tools` granted to the agent besides
/// `echo`, and `tables` (their `[tools.NAME]` tables) added to relive.toml.
fn hostile_with(tools: &[&str], tables: &str) -> Scratch {
    let scratch = hostile();
    let granted: Vec<String> = std::iter::once("echo")
        .chain(tools.iter().copied())
        .map(|t| format!("\"{t}\""))
        .collect();
    let config = std::fs::read_to_string(scratch.file("relive.toml"))
        .unwrap()
        .replace(
            "tools = [\"echo\"]",
            &format!("tools = [{}]", granted.join(", ")),
        );
    std::fs::write(scratch.file("relive.toml"), config + tables).unwrap();
    scratch
}

const SECRET: &str = "top secret, outside every workspace";

/// A folder with the `files` tool granted (workspaces under `workspaces/`)
/// and, next to the workspaces, `outside/secret.txt`, which no run may reach.
fn files_scratch(more_tools: &[&str], more_tables: &str) -> Scratch {
    let tools: Vec<&str> = std::iter::once("files")
        .chain(more_tools.iter().copied())
        .collect();
    let scratch = hostile_with(
        &tools,
        &format!("\n[tools.files]\nbuiltin = \"files\"\nroot = \"workspaces\"\n{more_tables}"),
    );
    std::fs::create_dir(scratch.file("outside")).unwrap();
    std::fs::write(scratch.file("outside/secret.txt"), SECRET).unwrap();
    scratch
}

/// The secret is intact, nothing else appeared next to it, and no journal
/// entry of the run holds it.
#[track_caller]
fn assert_nothing_escaped(scratch: &Scratch, report: &serde_json::Value) {
    assert_eq!(
        std::fs::read_to_string(scratch.file("outside/secret.txt")).unwrap(),
        SECRET
    );
    let outside: Vec<_> = std::fs::read_dir(scratch.file("outside"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside.len(), 1, "nothing written outside: {outside:?}");
    for entry in scratch.entries(report["id"].as_str().unwrap()) {
        let text = format!("{} {}", entry.request, entry.response.unwrap_or_default());
        assert!(
            !text.contains(SECRET),
            "#{} holds the secret: {text}",
            entry.seq
        );
    }
}

#[test]
fn path_escape_via_dot_dot_is_refused() {
    let scratch = files_scratch(&[], "");
    let report = assert_failed_with(
        &attack(&scratch, "path-dotdot"),
        &[
            "tool `files` refused path `../../outside/secret.txt`: the path contains `..`",
            "tool `files` refused path `../../outside/evil.txt`: the path contains `..`",
        ],
    );
    assert_nothing_escaped(&scratch, &report);
}

#[test]
fn path_escape_via_absolute_path_is_refused() {
    let scratch = files_scratch(&[], "");
    let secret = scratch.file("outside/secret.txt");
    let secret = secret.to_str().unwrap();
    let report = assert_failed_with(
        &attack(&scratch, &format!("path-absolute {secret}")),
        &[
            &format!("tool `files` refused path `{secret}`: the path is absolute"),
            &format!("tool `files` refused path `{secret}.evil`: the path is absolute"),
        ],
    );
    assert_nothing_escaped(&scratch, &report);
}

/// The links are planted by a command tool the agent may call, between two
/// calls of the same run: the `files` tool cannot make links, and a run's
/// workspace is named after a run id nobody knows in advance, so this is
/// how links get there in practice — a command tool unpacking or cloning
/// untrusted content into the workspace. One link to a directory outside
/// (absolute), one to a file outside (relative).
#[test]
fn path_escape_via_symlink_is_refused() {
    let scratch = files_scratch(
        &["plant"],
        "\n[tools.plant]\ncommand = [\"sh\", \"plant.sh\"]\nidempotent = false\n",
    );
    std::fs::write(
        scratch.file("plant.sh"),
        "set -e\nws=\"workspaces/$RELIVE_RUN_ID\"\nln -s \"$PWD/outside\" \"$ws/link\"\nln -s ../../outside/secret.txt \"$ws/secret-link\"\necho '{}'\n",
    )
    .unwrap();
    let leads_out = "is a symbolic link that leads outside the run's workspace";
    let report = assert_failed_with(
        &attack(&scratch, "path-symlink"),
        &[
            &format!("refused path `link/secret.txt`: `link` {leads_out}"),
            &format!("refused path `secret-link`: `secret-link` {leads_out}"),
            &format!("refused path `link/evil.txt`: `link` {leads_out}"),
            &format!("refused path `link`: `link` {leads_out}"),
        ],
    );
    assert_nothing_escaped(&scratch, &report);
    // The links were really there, and the run's own file was written.
    let workspace = scratch
        .file("workspaces")
        .join(report["id"].as_str().unwrap());
    assert!(
        workspace
            .join("link")
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );
    assert!(
        workspace
            .join("secret-link")
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(workspace.join("note.txt")).unwrap(),
        "mine"
    );
}

/// An HTTP server on 127.0.0.1 that answers every request with `body` and
/// counts the requests.
struct LocalServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl LocalServer {
    fn start(body: &'static str) -> LocalServer {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let app = axum::Router::new().fallback(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::future::ready(([("content-type", "text/plain")], body))
        });
        let url = serve(app);
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        LocalServer { port, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The hostile folder with `[tools.fetch]` (http_get) holding `keys`.
fn fetch_scratch(keys: &str) -> Scratch {
    hostile_with(
        &["fetch"],
        &format!("\n[tools.fetch]\nbuiltin = \"http_get\"\n{keys}\n"),
    )
}

#[test]
fn http_get_to_loopback_is_refused_even_when_the_server_is_up() {
    let server = LocalServer::start("must not be served");
    let scratch =
        fetch_scratch("allow_hosts = [\"127.0.0.1\", \"localhost\", \"::ffff:127.0.0.1\"]");
    let port = server.port;
    for (url, why) in [
        (
            format!("http://127.0.0.1:{port}/"),
            "127.0.0.1 is a loopback address".to_string(),
        ),
        (
            format!("http://localhost:{port}/"),
            "`localhost` resolves to".to_string(),
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "a loopback address in IPv4-mapped form".to_string(),
        ),
    ] {
        let report = assert_failed_with(
            &attack(&scratch, &format!("http-get {url}")),
            &[
                "tool `fetch` refused",
                &why,
                "unless `allow_private = true` under [tools.fetch]",
            ],
        );
        assert_eq!(report["status"], "failed");
    }
    assert_eq!(server.requests(), 0, "no request reached the server");
}

#[test]
fn http_get_to_cloud_metadata_is_refused_by_the_address_rule() {
    // Refused before any connection is made; and the run happens in an empty
    // network namespace, so nothing could reach 169.254.169.254 even if the
    // rule regressed.
    let scratch = fetch_scratch(
        "allow_hosts = [\"169.254.169.254\", \"::ffff:169.254.169.254\"]\ntimeout_secs = 2",
    );
    for (url, why) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address",
        ),
        (
            "http://[::ffff:169.254.169.254]/latest/meta-data/",
            "a link-local address in IPv4-mapped form (169.254.169.254)",
        ),
    ] {
        let started = std::time::Instant::now();
        assert_failed_with(
            &attack_offline(&scratch, &format!("http-get {url}")),
            &[why, "`allow_private = true` under [tools.fetch]"],
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
}

#[test]
fn http_get_to_a_host_not_allowed_is_refused() {
    let server = LocalServer::start("must not be served");
    let scratch = fetch_scratch("allow_private = true");
    assert_failed_with(
        &attack(
            &scratch,
            &format!("http-get http://127.0.0.1:{}/", server.port),
        ),
        &[
            "host `127.0.0.1` is not in `allow_hosts` under [tools.fetch] (the list is empty, so no host is allowed)",
            "add \"127.0.0.1\" to that list",
        ],
    );
    assert_eq!(server.requests(), 0);
}

#[test]
fn http_get_reaches_an_allowed_private_host_and_the_body_is_journaled() {
    let server = LocalServer::start("hello from 127.0.0.1");
    let scratch = fetch_scratch("allow_hosts = [\"127.0.0.1\"]\nallow_private = true");
    let out = attack(
        &scratch,
        &format!("http-get http://127.0.0.1:{}/page", server.port),
    );
    assert_code(&out, 0);
    let report = json(&out);
    assert_eq!(report["status"], "completed", "{report}");
    let result: serde_json::Value =
        serde_json::from_str(report["output"].as_str().unwrap()).unwrap();
    assert_eq!(result["status"], 200);
    assert_eq!(result["body"], "hello from 127.0.0.1");
    assert_eq!(result["headers"]["content-type"], "text/plain");
    assert_eq!(result["truncated"], false);
    assert_eq!(server.requests(), 1);
    let id = report["id"].as_str().unwrap();
    let entries = scratch.entries(id);
    let call = entries
        .iter()
        .find(|e| e.name == "fetch")
        .expect("the call is journaled");
    assert!(call.request.contains("/page"), "{}", call.request);
    assert!(
        call.response
            .as_deref()
            .unwrap_or_default()
            .contains("hello from 127.0.0.1"),
        "{call:?}"
    );
    // A replay answers from the journal: the server is not asked again.
    assert_eq!(
        export_and_replay(&scratch, id, &guest("hostile"))["passed"],
        true
    );
    assert_eq!(server.requests(), 1);
}
