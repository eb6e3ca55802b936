//! The imports: the host side of every interface the guest can call, one
//! file per WIT interface, each implemented once as "what it does live" and
//! handed to the engine's [`Recorder`], which records, replays and checks
//! it. This module holds the store's state, split by capability:
//! [`Grants`] (which models and tools this agent may use, under which
//! policy), the [`Recorder`] (journal position), the WASI context, the
//! limiter and the guest's clock.

mod agents;
mod approval;
pub mod bindings;
mod clocks;
mod grants;
mod limiter;
mod llm;
mod log;
mod patches;
pub mod policy;
pub(crate) mod poll;
mod random;
mod signals;
mod timers;
mod tools;

pub use agents::{Children, child_id};
pub use grants::Grants;
pub use limiter::GuestLimiter;
pub use policy::{POLICY_VERSION, RunPolicy, ToolPolicy};
pub use random::MAX_RANDOM_BYTES;

use crate::config::Limits;
use crate::engine::{Budget, Recorder, Stop};
use bindings::wit_types;
use clocks::GuestClock;
use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Everything a running guest's store holds.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub recorder: Recorder,
    pub grants: Grants,
    pub limiter: GuestLimiter,
    clock: GuestClock,
    /// LLM tokens used by this run so far (replayed calls included).
    spent_tokens: u64,
    /// What those tokens cost, at the configured prices.
    spent_cost: f64,
    /// Starts child runs and tells how they ended (`None`: this execution
    /// cannot, as in a replay).
    pub children: agents::ChildrenHandle,
    /// The tools with a successful call in this run so far, replayed calls
    /// included (see [`crate::tools::ToolContext::used_before`]).
    tools_used: std::collections::HashSet<String>,
}

impl HostState {
    pub fn new(wasi: WasiCtx, mut recorder: Recorder, grants: Grants) -> Self {
        recorder.set_budget(budget(&grants.limits));
        HostState {
            wasi,
            table: ResourceTable::new(),
            recorder,
            limiter: GuestLimiter::new(grants.limits.clone()),
            grants,
            clock: GuestClock::default(),
            spent_tokens: 0,
            spent_cost: 0.0,
            children: None,
            tools_used: Default::default(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// [`HasData`] marker for the imports implemented directly on [`HostState`].
pub struct Host;

impl HasData for Host {
    type Data<'a> = &'a mut HostState;
}

impl HostState {
    /// Refuses a host-call argument or result over the agent's limit,
    /// failing the run with the limit and its key.
    pub(crate) fn check_size(&mut self, what: &str, len: usize) -> wasmtime::Result<()> {
        match self.grants.limits.check_call_bytes(what, len) {
            Ok(()) => Ok(()),
            Err(message) => Err(self.recorder.fail(Stop::Limit(message))),
        }
    }
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("journal values serialise")
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    recorder: &mut Recorder,
    text: &str,
) -> wasmtime::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        let seq = recorder.next_seq().saturating_sub(1);
        recorder.fail(Stop::Damaged {
            seq,
            message: format!("recorded response does not decode: {e}"),
        })
    })
}

impl wit_types::Host for HostState {}

/// The part of an agent's limits the engine enforces: its journal budget.
fn budget(limits: &Limits) -> Budget {
    Budget {
        max_host_calls: limits.max_host_calls,
        max_journal_bytes: limits.max_journal_bytes,
        raise_host_calls: limits.fix("max_host_calls"),
        raise_journal_bytes: limits.fix("max_journal_mib"),
    }
}
