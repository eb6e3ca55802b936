//! Events: host calls as they happen, for progress output and live streams.
//! Replayed calls are silent.

use crate::journal::{EntryKind, Usage};
use std::sync::Arc;
use std::time::Duration;

/// A host call as it happens, for progress output.
#[derive(Clone, Debug)]
pub struct Event {
    pub seq: u64,
    pub kind: EntryKind,
    pub name: String,
    pub phase: Phase,
    pub duration: Duration,
    pub usage: Option<Usage>,
    /// The request (for `started`) or the response (for `completed`), JSON.
    pub detail: String,
    /// The call's request (started and completed calls).
    pub request: Option<String>,
    /// The call's response (completed calls).
    pub response: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// An external call is about to run live.
    Started,
    /// A live call finished and is recorded.
    Completed,
    /// A piece of an LLM answer, streamed (`detail` is the text).
    Token,
    /// An attempt failed and will be retried (`detail` says why and when).
    Retrying,
}

/// Receives [`Event`]s for live calls (replayed calls are silent).
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;
