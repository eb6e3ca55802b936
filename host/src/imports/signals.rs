//! `relive:agent/signals`: wait for an outside event by name — a journaled
//! wait with an optional timeout.

use super::bindings::wit_signals;
use super::{HostState, decode, encode};
use crate::journal::{EntryKind, SignalAnswer, SignalRequest};

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
