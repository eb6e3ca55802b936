//! Waiting durably: for a person's approval, for a time, for an outside
//! event. While an agent waits, the host keeps no instance, memory or
//! process for it: the run is `suspended` in the journal and resumed by
//! replay when the answer, the time or the signal comes.
//!
//! ```no_run
//! use relive_sdk::approval::{self, Decision};
//! match approval::request("send-email", r#"{"to":"ops@example.com"}"#) {
//!     Decision::Approved(edited) => { /* act, with `edited` if the approver changed it */ }
//!     Decision::Rejected(reason) => { /* adapt */ }
//! }
//! ```

/// Human approval of an action.
pub mod approval {
    pub use crate::bindings::relive::agent::approval::Decision;

    /// Asks for approval of `action` described by `details` (text or JSON
    /// shown to the approver) and returns the decision.
    pub fn request(action: &str, details: &str) -> Decision {
        crate::bindings::relive::agent::approval::request(action, details)
    }
}

/// Durable sleep.
pub mod timers {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// Sleeps for `duration` (millisecond precision), measured from the
    /// journaled wall clock; survives host restarts.
    pub fn sleep(duration: Duration) {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        crate::bindings::relive::agent::timers::sleep(ms);
    }

    /// Sleeps until `when` (a time before the Unix epoch returns at once).
    pub fn sleep_until(when: SystemTime) {
        let ms = when
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        crate::bindings::relive::agent::timers::sleep_until(ms);
    }
}

/// External signals (`relive signal RUN NAME --data JSON`).
pub mod signals {
    use std::time::Duration;

    /// Waits for the signal `name` and returns its payload, or `None` when
    /// `timeout` passes first (`None`: wait for ever).
    pub fn wait(name: &str, timeout: Option<Duration>) -> Option<String> {
        let ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        crate::bindings::relive::agent::signals::wait(name, ms)
    }
}
