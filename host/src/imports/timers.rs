//! `relive:agent/timers`: durable sleeps — a journaled wait until a time
//! computed from the journaled clock, so a replay computes the same one.

use super::bindings::wit_timers;
use super::{HostState, encode};
use crate::journal::{EntryKind, TimerRequest};
use wasmtime_wasi::p2::bindings::clocks::wall_clock;

impl HostState {
    async fn sleep_until(&mut self, until_ms: i64) -> wasmtime::Result<()> {
        let request = encode(&TimerRequest { until_ms });
        self.recorder
            .wait(EntryKind::Timer, "", request)
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        Ok(())
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
