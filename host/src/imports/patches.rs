//! `relive:agent/patches`: patch markers, so a changed agent still replays
//! the runs recorded before the change.

use super::HostState;
use super::bindings::wit_patches;

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
