//! `wasi:random/random`: secure randomness, answered by the journal.
//! (`wasi:random/insecure` is seeded from the run id instead: see the
//! sandbox.)

use super::{HostState, decode, encode};
use crate::engine::Stop;
use crate::journal::EntryKind;
use wasmtime::bail;
use wasmtime_wasi::p2::bindings::random::random;

/// Largest `get-random-bytes` request.
pub const MAX_RANDOM_BYTES: u64 = 1 << 20;

impl random::Host for HostState {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        if len > MAX_RANDOM_BYTES {
            bail!("get-random-bytes asked for {len} bytes, over the limit of {MAX_RANDOM_BYTES}");
        }
        let request = encode(&serde_json::json!({ "len": len }));
        let text = self
            .recorder
            .local(EntryKind::Random, "bytes", request, || {
                let mut bytes = vec![0u8; len as usize];
                rand::fill(&mut bytes[..]);
                encode(&hex::encode(bytes))
            })
            .map_err(|stop| self.recorder.fail(stop))?;
        self.recorder
            .relieve_blocking()
            .map_err(|stop| self.recorder.fail(stop))?;
        let hex_text: String = decode(&mut self.recorder, &text)?;
        hex::decode(hex_text).map_err(|e| {
            self.recorder.fail(Stop::Damaged {
                seq: self.recorder.next_seq().saturating_sub(1),
                message: format!("recorded random bytes are not hex: {e}"),
            })
        })
    }

    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        let text = self
            .recorder
            .local(EntryKind::Random, "u64", "null".into(), || {
                encode(&rand::random::<u64>())
            })
            .map_err(|stop| self.recorder.fail(stop))?;
        decode(&mut self.recorder, &text)
    }
}
