//! Digests, ids and the host clock the journal stamps its rows with.

/// `sha256:<hex>` of `bytes`, the form used for component digests.
pub fn component_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", digest_hex(bytes))
}

/// Hex SHA-256 of `bytes`.
pub fn digest_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Host wall-clock milliseconds since the Unix epoch (journal metadata).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new run id: thirteen characters of lowercase Crockford base32, the
/// first five ordered by creation time so ids sort roughly by age, then 40
/// random bits, so that a burst of thousands of runs a second, on one host
/// or several, does not make the same id twice (ids of older relives have
/// ten characters and 25 random bits; both kinds are valid).
pub fn new_run_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let seconds = (now_ms() / 1000) as u64;
    let random: u64 = rand::random();
    let mut id = String::with_capacity(13);
    for i in (0..5).rev() {
        id.push(ALPHABET[((seconds >> (i * 5)) & 31) as usize] as char);
    }
    for i in 0..8 {
        id.push(ALPHABET[((random >> (i * 5)) & 31) as usize] as char);
    }
    id
}

/// UTC `YYYY-MM-DD HH:MM:SS` from Unix milliseconds.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
