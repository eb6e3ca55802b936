//! Command tools run as real processes (`sh -c`), and the tests look in
//! /proc for the processes a tool started.

use super::*;
use crate::config::limits::DEFAULT_MAX_CALL_BYTES;
use std::time::Instant;

fn tool_in(dir: &Path, script: &str, timeout: u64) -> CommandTool {
    let config = ToolConfig {
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        description: "test".into(),
        idempotent: Some(true),
        timeout_secs: Some(timeout),
        ..ToolConfig::default()
    };
    CommandTool::new("t", &config, dir)
}

fn tool(script: &str, timeout: u64) -> CommandTool {
    tool_in(Path::new("."), script, timeout)
}

fn ctx() -> ToolContext {
    ToolContext {
        run_id: "r1".into(),
        seq: 7,
        idempotency_key: "relive-r1-7".into(),
        max_result_bytes: DEFAULT_MAX_CALL_BYTES as usize,
        used_before: false,
    }
}

/// The pids a tool wrote to `pids`, one a line, once there are `n` of them.
async fn pids(dir: &Path, n: usize) -> Vec<u32> {
    for _ in 0..500 {
        let text = std::fs::read_to_string(dir.join("pids")).unwrap_or_default();
        let pids: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.len() >= n {
            return pids;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the tool did not write {n} pids");
}

/// Whether `pid` is a live process: present in /proc and not a zombie (a
/// killed orphan may wait a while for its reaper).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Waits a little for SIGKILL to land, then names the survivors.
async fn survivors(pids: &[u32]) -> Vec<u32> {
    for _ in 0..200 {
        if !pids.iter().any(|&p| alive(p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pids.iter().copied().filter(|&p| alive(p)).collect()
}

/// The tool itself, a background `sleep`, and a nested shell with a
/// background `sleep` of its own; the tool then waits in the foreground.
const FAMILY: &str = "echo $$ >> pids
sleep 600 & echo $! >> pids
sh -c 'echo $$ >> pids; sleep 600 & echo $! >> pids; wait' &
sleep 600";

#[tokio::test]
async fn passes_arguments_and_environment() {
    let t = tool(
        r#"read line; printf '{"got":%s,"key":"%s","seq":%s}' "$line" "$RELIVE_IDEMPOTENCY_KEY" "$RELIVE_SEQ""#,
        10,
    );
    let out = t.run(&ctx(), "{\"a\":1}\n").await.unwrap();
    assert_eq!(out, r#"{"got":{"a":1},"key":"relive-r1-7","seq":7}"#);
}

#[tokio::test]
async fn failures_are_explained() {
    let err = tool("echo boom >&2; exit 3", 10)
        .run(&ctx(), "{}")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    let err = tool("echo not json", 10)
        .run(&ctx(), "{}")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");
    let err = tool("sleep 5", 1).run(&ctx(), "{}").await.unwrap_err();
    assert!(err.to_string().contains("timeout_secs"), "{err}");
}

#[tokio::test]
async fn a_tool_that_times_out_is_killed_with_its_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = tool_in(dir.path(), FAMILY, 1)
        .run(&ctx(), "{}")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("did not finish within 1 s"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let pids = pids(dir.path(), 4).await;
    assert_eq!(survivors(&pids).await, Vec::<u32>::new(), "of {pids:?}");
}

#[tokio::test]
async fn a_call_dropped_midway_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let t = tool_in(dir.path(), FAMILY, 600);
    let ctx = ctx();
    let call = t.run(&ctx, "{}");
    // The run is dropped (a cancelled or crashed run) once the family is up.
    let pids = tokio::select! {
        done = call => panic!("the tool finished: {done:?}"),
        pids = pids(dir.path(), 4) => pids,
    };
    assert_eq!(survivors(&pids).await, Vec::<u32>::new(), "of {pids:?}");
}

#[tokio::test]
async fn a_finished_tool_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    // The background `sleep` holds stdout open: the call must not wait for it.
    let script = r#"sleep 600 & echo $! >> pids; echo '{"ok":true}'"#;
    let started = Instant::now();
    let out = tool_in(dir.path(), script, 5)
        .run(&ctx(), "{}")
        .await
        .unwrap();
    assert_eq!(out, r#"{"ok":true}"#);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let pids = pids(dir.path(), 1).await;
    assert_eq!(survivors(&pids).await, Vec::<u32>::new(), "of {pids:?}");
}

#[tokio::test]
async fn a_megabyte_on_stderr_is_drained_not_stalled_into_a_timeout() {
    let started = Instant::now();
    let out = tool(
        r#"head -c 1048576 /dev/zero | tr '\0' x >&2; echo '{"ok":true}'"#,
        10,
    )
    .run(&ctx(), "{}")
    .await
    .unwrap();
    assert_eq!(out, r#"{"ok":true}"#);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A failing tool's last words are the ones reported.
    let err = tool(
        "head -c 1048576 /dev/zero | tr '\\0' x >&2; echo 'the real cause' >&2; exit 2",
        10,
    )
    .run(&ctx(), "{}")
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("the real cause"),
        "{}",
        crate::tools::shorten(&err, 300)
    );
    assert!(err.len() < 4096, "{} bytes", err.len());
}

#[tokio::test]
async fn output_over_the_limit_is_too_large_not_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // More than the limit on stdout, then the tool hangs: it must be killed.
    let script = format!(
        "echo $$ >> pids; head -c {} /dev/zero; sleep 600",
        DEFAULT_MAX_CALL_BYTES + 1
    );
    let started = Instant::now();
    let err = tool_in(dir.path(), &script, 30)
        .run(&ctx(), "{}")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("too large"), "{err}");
    assert!(err.contains(&DEFAULT_MAX_CALL_BYTES.to_string()), "{err}");
    assert!(err.contains("max_call_bytes"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let pids = pids(dir.path(), 1).await;
    assert_eq!(survivors(&pids).await, Vec::<u32>::new(), "of {pids:?}");
}

#[tokio::test]
async fn the_limit_is_the_runs_max_call_bytes() {
    let small = ToolContext {
        max_result_bytes: 100,
        ..ctx()
    };
    // 100 bytes of JSON: at the limit, accepted.
    let at = format!("printf '\"%s\"' {}", "x".repeat(98));
    let out = tool(&at, 10).run(&small, "{}").await.unwrap();
    assert_eq!(out.len(), 100);
    let over = format!("printf '\"%s\"' {}", "x".repeat(99));
    let err = tool(&over, 10).run(&small, "{}").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("too large: more than 100 bytes on stdout, over the limit of 100 bytes per host call; raise `max_call_bytes`"),
        "{err}"
    );
}
