//! Components: compiled once (wasmtime's disk cache makes the next process's
//! first start cheap too), checked against the agent world, linked once per
//! digest and kept for every run of it.

use super::Runtime;
use super::sandbox::{self, ComponentError};
use crate::imports::HostState;
use crate::imports::bindings::AgentPre;
use std::collections::HashMap;
use wasmtime::component::Component;

impl Runtime {
    pub fn prepared(
        &self,
        digest: &str,
        path: &str,
        bytes: &[u8],
        max_bytes: usize,
    ) -> Result<AgentPre<HostState>, ComponentError> {
        if let Some(pre) = self.lock_components().get(digest) {
            return Ok(pre.clone());
        }
        let pre = self.load(path, bytes, max_bytes)?;
        self.lock_components()
            .insert(digest.to_string(), pre.clone());
        Ok(pre)
    }

    /// Whether the component with `digest` is compiled and linked already.
    pub fn is_prepared(&self, digest: &str) -> bool {
        self.lock_components().contains_key(digest)
    }

    pub(super) fn lock_components(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, AgentPre<HostState>>> {
        self.components.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compiles `bytes` and checks that they implement the agent world with
    /// imports this host provides.
    pub fn load(
        &self,
        path: &str,
        bytes: &[u8],
        max_bytes: usize,
    ) -> Result<AgentPre<HostState>, ComponentError> {
        let component: Component = sandbox::load_component(&self.engine, path, bytes, max_bytes)?;
        sandbox::check_imports(&self.engine, path, &component)?;
        let pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| ComponentError::WrongWorld {
                    path: path.to_string(),
                    message: format!("{e:#}"),
                })?;
        sandbox::check_run_export(&self.engine, path, &component)?;
        AgentPre::new(pre).map_err(|e| ComponentError::WrongWorld {
            path: path.to_string(),
            message: format!("{e:#}"),
        })
    }
}
