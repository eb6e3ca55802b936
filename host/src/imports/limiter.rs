//! The store's resource limiter: caps linear memory and table growth with
//! errors that name the limit and the key that raises it.

use crate::config::Limits;
use wasmtime::ResourceLimiter;

/// Caps linear memory and table growth; the error names the limit.
pub struct GuestLimiter {
    limits: Limits,
    /// Why growth was refused, if it was: the run's error.
    pub refused: Option<String>,
}

impl GuestLimiter {
    pub fn new(limits: Limits) -> GuestLimiter {
        GuestLimiter {
            limits,
            refused: None,
        }
    }

    fn refuse(&mut self, message: String) -> wasmtime::Result<bool> {
        let error = wasmtime::Error::msg(message.clone());
        self.refused = Some(message);
        Err(error)
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            return self.refuse(format!(
                "the agent asked for {desired} bytes of memory (it had {current}), over the limit of {} bytes ({} MiB); {}",
                self.limits.memory_bytes,
                self.limits.memory_bytes >> 20,
                self.limits.fix("memory_mib")
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        const MAX_TABLE_ELEMENTS: usize = 1 << 20;
        if desired > MAX_TABLE_ELEMENTS {
            return self.refuse(format!(
                "the agent asked for a table of {desired} elements, over the limit of {MAX_TABLE_ELEMENTS}"
            ));
        }
        Ok(true)
    }
}
