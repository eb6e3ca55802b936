//! `wasi:clocks`: wall and monotonic time, answered by the journal, so that
//! `SystemTime::now()` and `Instant::now()` in a guest replay exactly.

use super::{HostState, decode, encode};
use crate::journal::EntryKind;
use std::sync::OnceLock;
use std::time::Instant;
use wasmtime::component::Resource;
use wasmtime_wasi::clocks::WasiClocksCtxView;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};

/// The guest's monotonic clock: host time plus an offset chosen so that it
/// never runs backwards across a resume (a new process has a new time base).
#[derive(Default)]
pub(crate) struct GuestClock {
    /// The last value the guest saw, replayed or live.
    last: u64,
    /// Added to host time for live reads; fixed at the first live read.
    offset: Option<u64>,
}

/// Where the guest's monotonic clock starts: one second, so a guest never
/// sees zero, and no recorded value is below it.
const START_NS: u64 = 1_000_000_000;

/// Host monotonic time in nanoseconds since the first use in this process.
fn host_monotonic_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + START_NS
}

impl GuestClock {
    fn live(&mut self) -> u64 {
        let host = host_monotonic_ns();
        let offset = *self
            .offset
            .get_or_insert_with(|| self.last.saturating_sub(host));
        (host + offset).max(self.last)
    }

    /// The answer to a read a fixture replay has no entry for: the last
    /// value the guest saw (time stands still, never runs backwards; every
    /// recorded value still ahead is at least as large).
    fn unrecorded(&self) -> u64 {
        self.last.max(START_NS)
    }
}

impl wall_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let text = self
            .recorder
            .local(EntryKind::Clock, "wall", "null".into(), || {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                encode(&(now.as_secs(), now.subsec_nanos()))
            })
            .map_err(|stop| self.recorder.fail(stop))?;
        let (seconds, nanoseconds): (u64, u32) = decode(&mut self.recorder, &text)?;
        Ok(wall_clock::Datetime {
            seconds,
            nanoseconds,
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: 0,
            nanoseconds: 1,
        })
    }
}

impl monotonic_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        let HostState {
            recorder, clock, ..
        } = self;
        let still = clock.unrecorded();
        let text = recorder
            .monotonic(|| encode(&clock.live()), || encode(&still))
            .map_err(|stop| recorder.fail(stop))?;
        let value: u64 = decode(recorder, &text)?;
        self.clock.last = value;
        Ok(value)
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        // How long to wait does not change what the guest observes, so it is
        // computed from the guest's clock without a journal entry.
        let wait = when.saturating_sub(self.clock.live());
        self.subscribe_duration(wait)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let mut view = WasiClocksCtxView {
            ctx: self.wasi.clocks(),
            table: &mut self.table,
        };
        monotonic_clock::Host::subscribe_duration(&mut view, duration)
    }
}
