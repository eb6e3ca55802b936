//! Random values supplied (and journaled) by the host.
//!
//! On `wasm32-wasip2` these read `wasi:random/random`, which the host records:
//! a replayed run sees exactly the values of the original run. Use them rather
//! than a seeded generator of your own, or seed yours from [`u64()`].
//!
//! Each 8 random bytes are one host call (one journal entry), so ask for what
//! you need rather than for large buffers.

/// A random `u64`: one host call.
///
/// # Panics
///
/// If the platform's random source fails. `wasi:random/random` cannot fail,
/// so inside a relive component this does not happen.
pub fn u64() -> u64 {
    getrandom::u64().expect("the host's random source failed")
}

/// `n` random bytes, read as `n.div_ceil(8)` calls to [`u64()`].
///
/// The number of host calls depends only on `n` (never on memory layout), so
/// a replayed run makes exactly the same calls.
///
/// # Panics
///
/// As [`u64()`].
pub fn bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n.next_multiple_of(8));
    while out.len() < n {
        out.extend_from_slice(&u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    // Natively, getrandom reads the OS generator: good enough to check lengths.
    #[test]
    fn bytes_has_the_requested_length() {
        for n in [0, 1, 7, 8, 9, 64, 100] {
            assert_eq!(super::bytes(n).len(), n);
        }
    }
}
