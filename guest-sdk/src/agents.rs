//! Other agents, run as child runs.
//!
//! A child is a run of its own: its own journal, sandbox, limits and grants
//! (its `[agents.NAME]` table), started only if the operator allowed this
//! agent to (`agents = ["NAME"]` under `[agents.THIS]`). The calls are
//! journaled: after a crash the same child is found again, never started
//! twice. While this run waits for children it is suspended — no memory,
//! no process — and woken when they end. What children use counts toward
//! this run's token and cost budgets.
//!
//! ```no_run
//! use relive_sdk::agents;
//!
//! // One child, waited for.
//! let notes = agents::call("researcher", "what is durable execution?")
//!     .map_err(|e| e.describe())?;
//!
//! // Several at once: spawn them, then join.
//! let children: Vec<_> = ["wasm", "wasi"]
//!     .iter()
//!     .map(|topic| agents::spawn("researcher", topic))
//!     .collect::<Result<_, _>>()
//!     .map_err(|e| e.describe())?;
//! for result in agents::join(&children) {
//!     let answer = result.map_err(|e| e.describe())?;
//! #   let _ = answer;
//! }
//! # let _ = notes;
//! # Ok::<(), String>(())
//! ```

pub use crate::bindings::relive::agent::agents::AgentError;

/// Runs `agent` on `input` as a child run and returns its output.
pub fn call(agent: &str, input: &str) -> Result<String, AgentError> {
    crate::bindings::relive::agent::agents::call(agent, input)
}

/// Starts `agent` on `input` as a child run without waiting; returns the
/// child's run id, for [`join`].
pub fn spawn(agent: &str, input: &str) -> Result<String, AgentError> {
    crate::bindings::relive::agent::agents::spawn(agent, input)
}

/// Waits until every child in `children` has ended; one result per child,
/// in order.
pub fn join(children: &[String]) -> Vec<Result<String, AgentError>> {
    crate::bindings::relive::agent::agents::join(children)
}

impl AgentError {
    /// The message the host attached to the error.
    pub fn message(&self) -> &str {
        match self {
            AgentError::Denied(m) | AgentError::Failed(m) | AgentError::Cancelled(m) => m,
        }
    }

    /// A one-line description for people (and models), e.g.
    /// `failed: child run 0k3f2ab1cd.4 failed: no notes found`.
    pub fn describe(&self) -> String {
        let kind = match self {
            AgentError::Denied(_) => "denied",
            AgentError::Failed(_) => "failed",
            AgentError::Cancelled(_) => "cancelled",
        };
        format!("{kind}: {}", self.message())
    }
}
