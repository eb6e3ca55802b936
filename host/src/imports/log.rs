//! `relive:agent/log`: progress events, journaled lazily; a guest that logs
//! faster than the journal commits waits for its own writes.

use super::bindings::wit_log;
use super::{HostState, encode};
use crate::journal::EntryKind;

impl wit_log::Host for HostState {
    async fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        self.check_size("log message", message.len())?;
        let request = encode(&serde_json::json!({ "message": message }));
        self.recorder
            .local(EntryKind::Log, level.as_str(), request, || "null".into())
            .map_err(|stop| self.recorder.fail(stop))?;
        // A guest that logs faster than the journal commits waits here.
        self.recorder
            .relieve()
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        Ok(())
    }
}
