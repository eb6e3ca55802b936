//! Leases: which process executes a run.
//!
//! Whoever executes a run — `relive run`, `relive resume`, `relive serve` —
//! holds its lease and renews it while it works, so that two processes never
//! execute one run at once. Every claim of a lease yields a new generation,
//! and every write made while executing the run carries it ([`Fence`]): the
//! journal refuses writes of a process whose lease was taken over.
//!
//! A process is known by a random instance id, made at start-up, not by its
//! host name and pid (containers share both). It registers itself in the
//! journal with what tells it apart on its machine — the kernel's boot id,
//! its PID namespace, pid and start time — so that a process on the same
//! machine can tell that a lease holder is dead and take its runs over at
//! once instead of waiting for the lease to expire (what lets a restarted
//! service recover its runs right after a SIGKILL).

use crate::journal::{Fence, Instance, Journal, JournalError};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// How long a lease holds without renewal, by default.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// How long a lease holds without renewal: how long the runs of a process
/// that stopped (paused, cut off, killed on another machine) wait before
/// another process takes them over. `RELIVE_LEASE_TTL_MS` sets it (at least
/// 100 ms); every process sharing a journal should use the same value.
pub fn ttl() -> Duration {
    static TTL: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TTL.get_or_init(|| {
        std::env::var("RELIVE_LEASE_TTL_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|ms| Duration::from_millis(ms.max(100)))
            .unwrap_or(DEFAULT_LEASE_TTL)
    })
}

/// How often a holder renews its leases: three times per [`ttl`].
pub fn renew_every() -> Duration {
    ttl() / 3
}

/// This process: its instance id and what identifies it on its machine.
pub fn instance() -> &'static Instance {
    static ME: std::sync::OnceLock<Instance> = std::sync::OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        Instance {
            id: new_instance_id(),
            host: hostname(),
            pid,
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            start_time: start_time(pid).unwrap_or_default(),
        }
    })
}

/// This process's instance id, as leases name it.
pub fn me() -> &'static str {
    &instance().id
}

/// `i-` and 16 random lowercase base32 characters.
fn new_instance_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let random: u128 = rand::random();
    let tail: String = (0..16)
        .map(|i| ALPHABET[((random >> (i * 5)) & 31) as usize] as char)
        .collect();
    format!("i-{tail}")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn hostname() -> String {
    Some(read_trimmed("/proc/sys/kernel/hostname"))
        .filter(|h| !h.is_empty())
        .or_else(|| Some(read_trimmed("/etc/hostname")).filter(|h| !h.is_empty()))
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

/// Whether `other` is a process on this machine, in this PID namespace,
/// that no longer exists. Anything else is never known to be dead: its
/// leases expire.
pub fn is_dead_instance(other: &Instance) -> bool {
    let me = instance();
    if other.id == me.id
        || other.boot_id.is_empty()
        || other.boot_id != me.boot_id
        || other.pid_ns.is_empty()
        || other.pid_ns != me.pid_ns
    {
        return false;
    }
    start_time(other.pid).as_deref() != Some(other.start_time.as_str())
}

/// Whether the lease owner `owner` is known to be dead (see [`is_dead_instance`]).
pub fn is_dead(journal: &dyn Journal, owner: &str) -> bool {
    matches!(journal.instance(owner), Ok(Some(i)) if is_dead_instance(&i))
}

/// Registers this process in `journal`, so others can tell whether it lives.
pub fn register(journal: &dyn Journal) -> Result<(), JournalError> {
    journal.register_instance(instance())
}

/// Frees the leases of dead relive processes on this machine (their runs
/// become ready at once); returns how many.
pub fn break_dead(journal: &dyn Journal) -> Result<usize, JournalError> {
    let mut freed = 0;
    for owner in journal.lease_owners()? {
        if is_dead(journal, &owner) {
            freed += journal.break_leases(&owner)?;
        }
    }
    Ok(freed)
}

/// Takes the lease of `run_id` for this process: free, expired, ours, or
/// held by a dead process on this machine. Otherwise says who holds it, or
/// why the run cannot be claimed.
pub fn acquire(journal: &dyn Journal, run_id: &str) -> Result<Fence, JournalError> {
    if let Some(fence) = journal.claim(run_id, me(), ttl(), None)? {
        return Ok(fence);
    }
    match journal.lease(run_id)? {
        Some(held) if is_dead(journal, &held.owner) => {
            if let Some(fence) = journal.claim(run_id, me(), ttl(), Some(&held.owner))? {
                return Ok(fence);
            }
            Err(busy(journal, run_id))
        }
        Some(_) => Err(busy(journal, run_id)),
        None => {
            let run = journal.find_run(run_id)?;
            Err(JournalError::Refused(format!(
                "run {} is {} and cannot be resumed",
                run.id, run.status
            )))
        }
    }
}

fn busy(journal: &dyn Journal, run_id: &str) -> JournalError {
    let Ok(Some(held)) = journal.lease(run_id) else {
        return JournalError::Refused(format!("run {run_id} could not be claimed; try again"));
    };
    let left = (held.expires_at_ms - crate::journal::now_ms()).max(0) / 1000;
    let who = match journal.instance(&held.owner) {
        Ok(Some(i)) => format!("instance {} on {} (pid {})", i.id, i.host, i.pid),
        _ => format!("instance {}", held.owner),
    };
    JournalError::Refused(format!(
        "run {run_id} is being executed by another relive process ({who}); its lease expires in {left} s unless renewed. Wait for it to finish, or stop that process first"
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
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(renew_every()) {
                    if let Err(e) = journal.renew_leases(me(), ttl()) {
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
        let me = instance().clone();
        assert!(me.id.starts_with("i-") && me.id.len() == 18, "{}", me.id);
        assert!(!is_dead_instance(&me));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid).unwrap_or_default();
        child.wait().unwrap();
        let dead = Instance {
            id: "i-other".into(),
            pid,
            start_time: start,
            ..me.clone()
        };
        assert!(is_dead_instance(&dead), "{dead:?} should be dead");
        let elsewhere = Instance {
            boot_id: "another-boot".into(),
            ..dead.clone()
        };
        assert!(!is_dead_instance(&elsewhere), "other machines expire");
        let other_namespace = Instance {
            pid_ns: "pid:[1]".into(),
            ..dead
        };
        assert!(
            !is_dead_instance(&other_namespace),
            "another container's pids mean nothing here"
        );
    }

    #[test]
    fn instance_ids_are_random() {
        assert_ne!(new_instance_id(), new_instance_id());
    }
}
