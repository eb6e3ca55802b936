//! The host side of `wasi:io/poll`, journaled.
//!
//! Which of a guest's pollables are ready is a source of nondeterminism like
//! the clock: a guest that sleeps (`std::thread::sleep`, Python's
//! `time.sleep`, a JavaScript timer) subscribes to a monotonic-clock
//! pollable and blocks on it; one that waits on several learns which came
//! first. Each answer — the ready list of `poll`, the end of `block`, the
//! answer of `ready` — is a local journal entry (kind `poll`). Live, the
//! real pollables are awaited and the answer recorded; in a replay the
//! recorded answer comes back at once, so a resumed run does not sleep
//! again through the sleeps it already slept, and a guest that waits on
//! several pollables sees the same one ready first.

use crate::imports::{Host, HostState, decode, encode};
use crate::journal::EntryKind;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi_io::bindings::wasi::io::poll;

/// Links the journaled `wasi:io/poll` in place of wasmtime-wasi's.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    poll::add_to_linker::<HostState, Host>(linker, |s| s)
}

impl poll::Host for HostState {
    async fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let request = encode(&serde_json::json!({ "n": pollables.len() }));
        let recorded = self
            .recorder
            .replay_local(EntryKind::Poll, "poll", &request)
            .map_err(|stop| self.recorder.fail(stop))?;
        let text = match recorded {
            Some(text) => text,
            None => {
                let ready = poll::Host::poll(&mut self.table, pollables).await?;
                self.recorder
                    .record_local(EntryKind::Poll, "poll", request, encode(&ready))
                    .map_err(|stop| self.recorder.fail(stop))?
            }
        };
        decode(&mut self.recorder, &text)
    }
}

impl poll::HostPollable for HostState {
    async fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let recorded = self
            .recorder
            .replay_local(EntryKind::Poll, "block", "null")
            .map_err(|stop| self.recorder.fail(stop))?;
        if recorded.is_none() {
            poll::HostPollable::block(&mut self.table, pollable).await?;
            self.recorder
                .record_local(EntryKind::Poll, "block", "null".into(), "null".into())
                .map_err(|stop| self.recorder.fail(stop))?;
        }
        Ok(())
    }

    async fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        let recorded = self
            .recorder
            .replay_local(EntryKind::Poll, "ready", "null")
            .map_err(|stop| self.recorder.fail(stop))?;
        let text = match recorded {
            Some(text) => text,
            None => {
                let ready = poll::HostPollable::ready(&mut self.table, pollable).await?;
                self.recorder
                    .record_local(EntryKind::Poll, "ready", "null".into(), encode(&ready))
                    .map_err(|stop| self.recorder.fail(stop))?
            }
        };
        decode(&mut self.recorder, &text)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(&mut self.table, pollable)
    }
}
