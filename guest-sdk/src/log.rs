//! Progress events for the operator.
//!
//! Each call sends one line to the host, which journals it and shows it in the
//! run's timeline (`relive show`). While a run is being replayed after a
//! crash, lines already recorded are matched against the journal instead of
//! being emitted a second time, so logging is safe anywhere in an agent.
//!
//! ```no_run
//! relive_sdk::log::info("fetched 3 sources");
//! ```

pub use crate::bindings::relive::agent::log::Level;

/// Sends `message` at `level`.
pub fn log(level: Level, message: &str) {
    crate::bindings::relive::agent::log::log(level, message);
}

/// Sends a `trace` event: fine-grained detail, usually hidden.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Sends a `debug` event: detail useful when diagnosing an agent.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Sends an `info` event: normal progress.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Sends a `warn` event: something unexpected the agent recovered from.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Sends an `error` event: something failed.
pub fn error(message: &str) {
    log(Level::Error, message);
}
