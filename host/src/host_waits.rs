//! The host side of the imports that wait: approvals, durable timers and
//! signals. Each one is a journal entry that stays `started` until it is
//! answered; the Recorder suspends the run meanwhile (DESIGN §5).

use crate::bindings::{wit_approval, wit_patches, wit_signals, wit_timers};
use crate::host_calls::{HostState, decode, encode};
use crate::journal::EntryKind;
use crate::waiting::{ApprovalRequest, SignalRequest, TimerRequest};
use serde::Deserialize;
use wasmtime_wasi::p2::bindings::clocks::wall_clock;

/// An answer to an approval, as `relive approve` / `reject` record it.
#[derive(Deserialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub(crate) enum ApprovalAnswer {
    Approved {
        #[serde(default)]
        details: Option<String>,
    },
    Rejected {
        reason: String,
    },
}

/// A signal's payload, as `relive signal` records it (or a timeout).
#[derive(Deserialize)]
struct SignalAnswer {
    payload: Option<String>,
}

impl HostState {
    /// Asks a person to approve `action` (a journaled wait) and returns
    /// the answer; used by `approval.request` and by tools that require
    /// approval.
    pub(crate) async fn ask_approval(
        &mut self,
        action: &str,
        details: String,
    ) -> wasmtime::Result<ApprovalAnswer> {
        let request = encode(&ApprovalRequest {
            action: action.to_string(),
            details,
        });
        let text = self
            .recorder
            .wait(EntryKind::Approval, action, request)
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        decode(&mut self.recorder, &text)
    }

    async fn sleep_until(&mut self, until_ms: i64) -> wasmtime::Result<()> {
        let request = encode(&TimerRequest { until_ms });
        self.recorder
            .wait(EntryKind::Timer, "", request)
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        Ok(())
    }
}

impl wit_approval::Host for HostState {
    async fn request(
        &mut self,
        action: String,
        details: String,
    ) -> wasmtime::Result<wit_approval::Decision> {
        self.check_size("approval details", details.len() + action.len())?;
        Ok(match self.ask_approval(&action, details).await? {
            ApprovalAnswer::Approved { details } => wit_approval::Decision::Approved(details),
            ApprovalAnswer::Rejected { reason } => wit_approval::Decision::Rejected(reason),
        })
    }
}

impl wit_timers::Host for HostState {
    async fn sleep(&mut self, milliseconds: u64) -> wasmtime::Result<()> {
        // The wake time comes from the journaled clock, so a replay computes
        // the same one.
        let now = wall_clock::Host::now(self)?;
        let now_ms = now.seconds as i64 * 1000 + i64::from(now.nanoseconds / 1_000_000);
        self.sleep_until(now_ms.saturating_add(milliseconds.min(i64::MAX as u64) as i64))
            .await
    }

    async fn sleep_until(&mut self, unix_ms: u64) -> wasmtime::Result<()> {
        HostState::sleep_until(self, unix_ms.min(i64::MAX as u64) as i64).await
    }
}

impl wit_patches::Host for HostState {
    async fn patched(&mut self, id: String) -> wasmtime::Result<bool> {
        self.check_size("patch id", id.len())?;
        self.recorder
            .patch(&id, false)
            .map_err(|stop| self.recorder.fail(stop))
    }

    async fn deprecate(&mut self, id: String) -> wasmtime::Result<()> {
        self.check_size("patch id", id.len())?;
        self.recorder
            .patch(&id, true)
            .map(|_| ())
            .map_err(|stop| self.recorder.fail(stop))
    }
}

impl wit_signals::Host for HostState {
    async fn wait(
        &mut self,
        name: String,
        timeout_ms: Option<u64>,
    ) -> wasmtime::Result<Option<String>> {
        self.check_size("signal name", name.len())?;
        let request = encode(&SignalRequest {
            name: name.clone(),
            timeout_ms,
        });
        let text = self
            .recorder
            .wait(EntryKind::Signal, &name, request)
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        Ok(decode::<SignalAnswer>(&mut self.recorder, &text)?.payload)
    }
}
