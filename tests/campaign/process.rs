//! Running the real `relive` binary until a kill point, and the kill itself.
//!
//! A kill is a host crash: SIGKILL to the `relive` process, then SIGKILL to
//! every process it started (its command tools), found by a marker variable
//! in their environment, since they inherit the host's. A tool that a crash
//! leaves running would otherwise finish later and race with the operator's
//! look at its log; killing it is what a crashed machine or container does.

use super::llm_server::LlmServer;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The environment variable that marks every process of one kill point.
pub const MARK_VAR: &str = "RELIVE_CAMPAIGN_MARK";

/// Longest a host process may take before the campaign gives up on it.
const PROCESS_DEADLINE: Duration = Duration::from_secs(120);

/// How often the journal is polled for a kill after N entries.
const POLL: Duration = Duration::from_millis(4);

/// The host process of a kill point, killed at most once.
pub struct Killer {
    child: Mutex<Child>,
    killed_at: Mutex<Option<Instant>>,
}

impl Killer {
    fn new(child: Child) -> Killer {
        Killer {
            child: Mutex::new(child),
            killed_at: Mutex::new(None),
        }
    }

    /// SIGKILL, once; records the instant.
    pub fn kill(&self) {
        let mut killed_at = self.killed_at.lock().unwrap();
        if killed_at.is_none() {
            *killed_at = Some(Instant::now());
            // An error means it has exited already: the kill came too late.
            let _ = self.child.lock().unwrap().kill();
        }
    }

    fn try_wait(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .unwrap()
            .try_wait()
            .expect("waiting works")
    }
}

/// When to kill, resolved to this process.
#[derive(Clone, Copy, Debug)]
pub enum Trigger {
    /// This long after the process started.
    After(Duration),
    /// When the journal holds this many entries (all runs).
    Entries(usize),
    /// When the point's LLM server gets its N-th request (counting from 1,
    /// over the whole point).
    LlmRequest(usize),
    /// When the tool's execution log (a file of the point's folder) has N
    /// lines: the tool has just started.
    ToolStarted(&'static str, usize),
}

/// How a host process ended.
#[derive(Debug)]
pub enum Ended {
    /// Killed at this instant.
    Killed(Instant),
    /// Exited by itself (before any kill).
    Exited(ExitStatus),
}

/// Runs `cmd` (a `relive` command) until it exits or `trigger` fires;
/// `point` names the LLM server's log, `dir` is the point's folder (its
/// journal, its tools' logs) and `mark` marks the processes to kill.
pub fn run(
    mut cmd: Command,
    point: u64,
    mark: &str,
    dir: &Path,
    trigger: Option<Trigger>,
) -> Ended {
    cmd.env(MARK_VAR, mark);
    let started = Instant::now();
    let killer = std::sync::Arc::new(Killer::new(cmd.spawn().expect("relive starts")));
    let server = LlmServer::get();
    if let Some(Trigger::LlmRequest(n)) = trigger {
        server.arm(point, n, killer.clone());
    }
    let mut last_poll = started;
    let status = loop {
        if let Some(status) = killer.try_wait() {
            break status;
        }
        let now = Instant::now();
        assert!(
            now < started + PROCESS_DEADLINE,
            "relive ran for more than {PROCESS_DEADLINE:?}"
        );
        match trigger {
            Some(Trigger::After(delay)) if now >= started + delay => killer.kill(),
            Some(Trigger::Entries(n)) if now >= last_poll + POLL => {
                last_poll = now;
                if entry_count(&dir.join("relive.db")) >= n {
                    killer.kill();
                }
            }
            Some(Trigger::ToolStarted(tool, n)) => {
                let log = std::fs::read(dir.join(format!("{tool}.log"))).unwrap_or_default();
                if log.iter().filter(|b| **b == b'\n').count() >= n {
                    killer.kill();
                }
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    server.disarm(point);
    let killed_at = *killer.killed_at.lock().unwrap();
    match killed_at {
        Some(at) if status.signal() == Some(9) => {
            sweep(mark);
            Ended::Killed(at)
        }
        _ => Ended::Exited(status),
    }
}

/// Entries in the journal at `db`, read through a read-only connection (0
/// while the file or its tables do not exist yet).
fn entry_count(db: &Path) -> usize {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, flags) else {
        return 0;
    };
    conn.query_row("SELECT count(*) FROM entries", [], |r| r.get::<_, i64>(0))
        .map_or(0, |n| n as usize)
}

/// SIGKILLs every live process whose environment carries `mark`, until
/// none is left.
pub fn sweep(mark: &str) {
    let needle = format!("{MARK_VAR}={mark}").into_bytes();
    for _ in 0..500 {
        let pids = marked(&needle);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = Command::new("sh")
                .args(["-c", &format!("kill -9 {pid} 2>/dev/null")])
                .status();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("the processes marked {mark} would not die");
}

/// Live (not zombie) processes whose environment holds `needle`.
fn marked(needle: &[u8]) -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc is readable") {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // The state follows the command name in parentheses.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, Some('Z' | 'X') | None) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|var| var == needle) {
            pids.push(pid);
        }
    }
    pids
}
