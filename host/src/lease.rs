//! Leases: which process executes a run.
//!
//! Whoever executes a run — `relive run`, `relive resume`, `relive serve` —
//! holds its lease and renews it while it works, so that two processes never
//! execute one run at once. A lease names its owner by host, process id and
//! process start time: a process that finds a lease of a dead process on its
//! own host takes it over at once instead of waiting for it to expire, which
//! is what lets a restarted service recover its runs immediately after a
//! SIGKILL.

use crate::journal::{Journal, JournalError, Lease, now_ms};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// How long a lease holds without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often a holder renews its leases.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// This process as a lease owner: `host:pid:start`.
pub fn me() -> &'static str {
    static ME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        format!(
            "{}:{pid}:{}",
            hostname(),
            start_time(pid).unwrap_or_default()
        )
    })
}

/// A lease for this process, valid for [`LEASE_TTL`] from now.
pub fn fresh() -> Lease {
    Lease {
        owner: me().to_string(),
        expires_at_ms: now_ms() + LEASE_TTL.as_millis() as i64,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A process's start time in clock ticks since boot (field 22 of
/// `/proc/PID/stat`): with the pid, it tells a process from a later one
/// that reused its pid.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
}

/// Whether `owner` is a process on this host that no longer exists. Owners
/// on other hosts are never known to be dead: their leases expire.
pub fn is_dead(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if host != hostname() || owner == me() {
        return false;
    }
    start_time(pid).as_deref() != Some(start)
}

/// Takes the lease of `run_id` for this process: free, expired, ours, or
/// held by a dead process on this host. Otherwise says who holds it.
pub fn acquire(journal: &dyn Journal, run_id: &str) -> Result<(), JournalError> {
    let lease = fresh();
    let now = now_ms();
    if journal.claim(run_id, &lease, now, None)? {
        return Ok(());
    }
    match journal.lease(run_id)? {
        Some(held) if is_dead(&held.owner) => {
            if journal.claim(run_id, &lease, now, Some(&held.owner))? {
                return Ok(());
            }
            Err(busy(run_id, &held))
        }
        Some(held) => Err(busy(run_id, &held)),
        // No lease, yet not claimable: the run is neither running nor
        // suspended; the caller's status checks say so better.
        None => Ok(()),
    }
}

fn busy(run_id: &str, held: &Lease) -> JournalError {
    let left = (held.expires_at_ms - now_ms()).max(0) / 1000;
    JournalError::Other(format!(
        "run {run_id} is being executed by another relive process ({}); its lease expires in {left} s unless renewed. Wait for it to finish, or stop that process first",
        held.owner
    ))
}

/// Renews this process's leases in the background until dropped.
pub struct Keeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Keeper {
    pub fn start(journal: Arc<dyn Journal>) -> Keeper {
        let (stop, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("relive-lease-keeper".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(RENEW_EVERY) {
                    let until = now_ms() + LEASE_TTL.as_millis() as i64;
                    if let Err(e) = journal.renew_leases(me(), until) {
                        eprintln!("relive: warning: cannot renew run leases: {e}");
                    }
                }
            })
            .ok();
        Keeper {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_dead() {
        assert!(!is_dead(me()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        let owner = format!("{}:{pid}:{}", hostname(), start.unwrap_or_default());
        assert!(is_dead(&owner), "{owner} should be dead");
        assert!(
            !is_dead(&format!("elsewhere:{pid}:1")),
            "other hosts expire"
        );
        assert!(!is_dead("garbage"));
    }
}
