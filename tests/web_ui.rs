//! The web UI of `relive serve`, driven in headless Chromium (Debian's
//! `chromium` package) by `tests/browser/ui.test.mjs` through Playwright.
//!
//! The Rust side sets the stage — a real service with a bearer token, one
//! completed run and one run waiting for an approval — and the browser test
//! checks the runs list and its filters, a run's timeline against the API,
//! an expanded entry, the Approve button and the live updates that follow,
//! and the token prompt. It writes a full-page screenshot of a timeline to
//! `target/relive-ui.png`; `docs/relive-ui.png` (shown in the README) is a
//! copy of it: re-bless with `cp target/relive-ui.png docs/relive-ui.png`
//! after changing the UI.
//!
//! Needs `node` and `/usr/bin/chromium` (or `$CHROMIUM`); `.ci/run` installs
//! both. Without them the test says what is missing and passes, except under
//! CI (`CI` set), where a missing browser is a failure.

use crate::serve::{Served, example, http, is_final, post, read, wait_run};
use crate::support::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "ui-test-token-4a1c";

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Whether the browser test can run here; if not, why.
fn missing_tools() -> Option<String> {
    if !chromium().exists() {
        return Some(format!(
            "no browser at {} (apt-get install chromium, or set CHROMIUM)",
            chromium().display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("no `node` on PATH (apt-get install nodejs)".into());
    }
    None
}

/// `npm ci` in tests/browser when playwright-core is not installed yet.
fn install_playwright(dir: &Path) {
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("npm runs");
    assert!(status.success(), "`npm ci` in {} failed", dir.display());
}

#[test]
fn web_ui_lists_runs_shows_a_timeline_and_approves_in_the_browser() {
    if !browser_ready() {
        return;
    }

    let scratch = example("approver");
    let outbox = scratch.file("outbox.log");
    let s = Served::start(
        &scratch,
        &[],
        &[
            ("OUTBOX", outbox.to_str().unwrap()),
            ("RELIVE_TOKEN", TOKEN),
        ],
    );
    // Without the token the API refuses; the UI test checks the prompt.
    let (code, _) = http("GET", &s.url("/v1/runs"), None, None);
    assert_eq!(code, 401);

    // A completed run: approved through the API.
    let done = post(
        &s,
        "/v1/runs",
        json!({ "agent": "approver", "input": "ship v1" }),
    );
    let done = done["id"].as_str().unwrap().to_string();
    wait_run(&s, &done, Duration::from_secs(30), |r| {
        r["status"] == "suspended"
    });
    post(
        &s,
        &format!("/v1/runs/{done}/approve"),
        json!({ "by": "test" }),
    );
    let run = wait_run(&s, &done, Duration::from_secs(30), is_final);
    assert_eq!(run["status"], "completed", "{run}");

    // A run left waiting for the browser to approve it.
    let waiting = post(
        &s,
        "/v1/runs",
        json!({ "agent": "approver", "input": "ship v2" }),
    );
    let waiting = waiting["id"].as_str().unwrap().to_string();
    wait_run(&s, &waiting, Duration::from_secs(30), |r| {
        r["waiting"]["kind"] == "approval"
    });

    let screenshot = root().join("target/relive-ui.png");
    let _ = std::fs::remove_file(&screenshot);
    browser(
        &s,
        &screenshot,
        &[
            ("RELIVE_EXPECT_RUN_DONE", done.as_str()),
            ("RELIVE_EXPECT_RUN_WAITING", waiting.as_str()),
            ("RELIVE_EXPECT_APPROVED_STATUS", "completed"),
        ],
    );
    assert!(std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000));

    // What the browser did is in the journal: the approval, then the send.
    let run = wait_run(&s, &waiting, Duration::from_secs(30), is_final);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(read(&outbox).lines().count(), 2, "{}", read(&outbox));
}

/// Whether the browser test can run: says why not and returns false (a
/// failure under CI); installs playwright-core when it is missing.
fn browser_ready() -> bool {
    if let Some(why) = missing_tools() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser test cannot run under CI: {why}"
        );
        eprintln!("skipping the browser test: {why}");
        return false;
    }
    install_playwright(&root().join("tests/browser"));
    true
}

/// Runs `tests/browser/ui.test.mjs` against `s` with `env` (what to
/// expect) and fails with its report unless every check passed.
fn browser(s: &Served, screenshot: &Path, env: &[(&str, &str)]) {
    let mut child = Command::new("node")
        .arg("ui.test.mjs")
        .arg(&s.base)
        .arg(TOKEN)
        .arg(screenshot)
        .current_dir(root().join("tests/browser"))
        .envs(env.iter().copied())
        .env("CHROMIUM", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // ui.test.mjs bounds itself (20 × 15 s); this bound is the backstop.
    let begun = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if begun.elapsed() > Duration::from_secs(360) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the browser test failed:\n{report}\nservice log:\n{}",
        s.log()
    );
    assert!(report.contains("checks passed"), "{report}");
    eprintln!("{report}");
}

/// Issue 16.5: the console shows a tree of runs — the child under its
/// parent with its status, the parent's child runs — and a child call in
/// the timeline links to the child's run, which links back.
#[test]
fn web_ui_shows_a_tree_of_runs_and_links_a_child_call_to_its_run() {
    if !browser_ready() {
        return;
    }
    let scratch = example("dispatcher");
    let s = Served::start(&scratch, &[], &[("RELIVE_TOKEN", TOKEN)]);
    let parent = post(
        &s,
        "/v1/runs",
        json!({ "agent": "dispatcher", "input": "How does relive resume a run after a crash?" }),
    );
    let parent = parent["id"].as_str().unwrap().to_string();
    let run = wait_run(&s, &parent, Duration::from_secs(60), is_final);
    assert_eq!(run["status"], "completed", "{run}");
    let child = run["children"][0]["id"].as_str().unwrap().to_string();
    let screenshot = root().join("target/relive-ui-tree.png");
    browser(
        &s,
        &screenshot,
        &[
            ("RELIVE_EXPECT_TREE_PARENT", parent.as_str()),
            ("RELIVE_EXPECT_TREE_CHILD", child.as_str()),
        ],
    );
}
