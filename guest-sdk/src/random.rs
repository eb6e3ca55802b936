//! Random values supplied (and journaled) by the host.
//!
//! On `wasm32-wasip2` these read `wasi:random/random`, which the host records:
//! a replayed run sees exactly the values of the original run. Use them rather
//! than a seeded generator of your own, or seed yours from [`u64()`].
//!
//! Each function is one host call (one journal entry); the host caps a single
//! request at 1 MiB.

/// A random `u64`: one host call.
///
/// # Panics
///
/// If the platform's random source fails. `wasi:random/random` cannot fail,
/// so inside a relive component this does not happen.
pub fn u64() -> u64 {
    getrandom::u64().expect("the host's random source failed")
}

/// `n` random bytes: one host call (`get-random-bytes`), one journal entry.
///
/// # Panics
///
/// If the host refuses the request (over its 1 MiB limit per call), or, off
/// wasm, if the platform's random source fails.
pub fn bytes(n: usize) -> Vec<u8> {
    #[cfg(target_arch = "wasm32")]
    {
        wasip2::random::random::get_random_bytes(n as u64)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut out = vec![0u8; n];
        getrandom::fill(&mut out).expect("the platform's random source failed");
        out
    }
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
