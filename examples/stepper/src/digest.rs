//! A 64-bit FNV-1a digest of everything the stepper observed.
//!
//! FNV-1a is tiny, dependency-free and fully specified, so the same
//! observations give the same digest on every build and platform.

/// FNV-1a offset basis (64 bits).
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a prime (64 bits).
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// A running FNV-1a (64-bit) digest.
#[derive(Clone, Debug)]
pub struct Digest(u64);

impl Digest {
    /// The digest of nothing: the FNV-1a offset basis.
    pub fn new() -> Digest {
        Digest(OFFSET_BASIS)
    }

    /// Folds in raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// Folds in a number, as its 8 little-endian bytes.
    pub fn u64(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }

    /// Folds in a text, preceded by its length (so that "ab","c" and
    /// "a","bc" differ).
    pub fn text(&mut self, text: &str) {
        self.u64(text.len() as u64);
        self.bytes(text.as_bytes());
    }

    /// The digest so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}

impl Default for Digest {
    fn default() -> Digest {
        Digest::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Digest;

    #[test]
    fn matches_the_fnv1a_reference_vectors() {
        let of = |s: &str| {
            let mut d = Digest::new();
            d.bytes(s.as_bytes());
            d.value()
        };
        assert_eq!(of(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(of("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(of("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn texts_are_length_prefixed() {
        let mut a = Digest::new();
        a.text("ab");
        a.text("c");
        let mut b = Digest::new();
        b.text("a");
        b.text("bc");
        assert_ne!(a.value(), b.value());
    }
}
