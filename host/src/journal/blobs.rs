//! Content-addressed storage of large payloads (DESIGN §3).
//!
//! An agent resends its whole conversation with every LLM call, so storing
//! each request whole makes the journal grow with the square of the number
//! of turns. Instead, every large JSON sub-value of a request or response (a
//! message, a tool result) is stored once in the `blobs` table under its
//! SHA-256 and replaced by a reference `{"$relive-blob":"<hex>"}`; a message
//! that is resent costs one reference, not its bytes.
//!
//! Packing is transparent: the journal's callers always see the original
//! text, byte for byte. A text is only packed when re-serialising its parsed
//! form gives the same bytes (so unpacking reproduces it exactly) and when it
//! does not itself contain the reference key.

use super::digest_hex;
use serde_json::Value;

/// Sub-values at least this long (serialised) are stored as blobs.
pub const MIN_BLOB_BYTES: usize = 512;
/// Texts shorter than this are never packed.
pub const MIN_PACKED_TEXT_BYTES: usize = 2048;
/// The key of a blob reference.
const REF_KEY: &str = "$relive-blob";

/// A text ready for storage.
#[derive(Debug, PartialEq)]
pub struct Packed {
    /// What goes in the entry's column.
    pub text: String,
    /// `(digest, bytes)` of the blobs it references.
    pub blobs: Vec<(String, String)>,
}

/// Packs `text`; `None` when it is stored as it is.
pub fn pack(text: &str) -> Option<Packed> {
    if text.len() < MIN_PACKED_TEXT_BYTES || text.contains(REF_KEY) {
        return None;
    }
    let mut value: Value = serde_json::from_str(text).ok()?;
    if serde_json::to_string(&value).ok()? != text {
        return None; // not canonical: unpacking could not restore the bytes
    }
    let mut blobs = Vec::new();
    extract(&mut value, &mut blobs, true);
    if blobs.is_empty() {
        return None;
    }
    Some(Packed {
        text: serde_json::to_string(&value).expect("JSON values serialise"),
        blobs,
    })
}

/// Post-order: children first; a value becomes a blob when it is large and
/// none of its parts already did (so a list of messages stays a list of
/// references, and each message is stored once).
fn extract(value: &mut Value, blobs: &mut Vec<(String, String)>, top: bool) -> bool {
    let mut inner = false;
    match value {
        Value::Array(items) => {
            for v in items.iter_mut() {
                inner |= extract(v, blobs, false);
            }
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                inner |= extract(v, blobs, false);
            }
        }
        _ => {}
    }
    if inner || top {
        return inner;
    }
    let text = serde_json::to_string(value).expect("JSON values serialise");
    if text.len() < MIN_BLOB_BYTES {
        return false;
    }
    let digest = digest_hex(text.as_bytes());
    *value = serde_json::json!({ REF_KEY: digest });
    blobs.push((digest, text));
    true
}

/// The digests of the blobs a packed text refers to. A packed text is
/// canonical JSON that held no reference key before packing, so every
/// occurrence of the key is a reference.
pub fn references(text: &str) -> impl Iterator<Item = &str> {
    const OPEN: &str = "{\"$relive-blob\":\"";
    text.match_indices(OPEN).filter_map(|(at, _)| {
        let digest = text.get(at + OPEN.len()..at + OPEN.len() + 64)?;
        digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then_some(digest)
    })
}

/// Restores a packed text; `fetch` returns a blob's bytes by digest.
pub fn unpack(text: &str, fetch: &mut dyn FnMut(&str) -> Option<String>) -> Result<String, String> {
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| format!("packed text is not JSON: {e}"))?;
    restore(&mut value, fetch)?;
    Ok(serde_json::to_string(&value).expect("JSON values serialise"))
}

fn restore(value: &mut Value, fetch: &mut dyn FnMut(&str) -> Option<String>) -> Result<(), String> {
    if let Value::Object(map) = value
        && map.len() == 1
        && let Some(Value::String(digest)) = map.get(REF_KEY)
    {
        let digest = digest.clone();
        let text = fetch(&digest).ok_or_else(|| format!("blob {digest} is missing"))?;
        if digest_hex(text.as_bytes()) != digest {
            return Err(format!("blob {digest} does not match its digest"));
        }
        *value =
            serde_json::from_str(&text).map_err(|e| format!("blob {digest} is not JSON: {e}"))?;
        return Ok(());
    }
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| restore(v, fetch)),
        Value::Object(map) => map.values_mut().try_for_each(|v| restore(v, fetch)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn conversation(turns: usize) -> String {
        let messages: Vec<Value> = (0..turns)
            .map(|i| serde_json::json!({ "role": "user", "content": format!("message {i}: {}", "x".repeat(800)) }))
            .collect();
        serde_json::to_string(&serde_json::json!({ "model": "m", "messages": messages })).unwrap()
    }

    #[test]
    fn packs_large_messages_and_restores_the_exact_bytes() {
        let text = conversation(5);
        let packed = pack(&text).unwrap();
        assert_eq!(packed.blobs.len(), 5);
        assert!(packed.text.len() < 600, "{}", packed.text);
        let store: HashMap<_, _> = packed.blobs.into_iter().collect();
        let restored = unpack(&packed.text, &mut |d| store.get(d).cloned()).unwrap();
        assert_eq!(restored, text);
        let mut refs: Vec<&str> = references(&packed.text).collect();
        let mut digests: Vec<&str> = store.keys().map(String::as_str).collect();
        refs.sort();
        digests.sort();
        assert_eq!(refs, digests, "every blob is found as a reference");
    }

    #[test]
    fn small_odd_or_ambiguous_texts_are_left_alone() {
        assert_eq!(pack("{\"a\":1}"), None);
        let spaced = conversation(5).replace("\"model\":", "\"model\": ");
        assert_eq!(pack(&spaced), None, "not canonical JSON");
        let tricky = conversation(5).replace("message 0", "$relive-blob");
        assert_eq!(pack(&tricky), None);
    }

    #[test]
    fn a_missing_or_altered_blob_is_an_error() {
        let packed = pack(&conversation(3)).unwrap();
        assert!(
            unpack(&packed.text, &mut |_| None)
                .unwrap_err()
                .contains("missing")
        );
        assert!(
            unpack(&packed.text, &mut |_| Some("\"x\"".into()))
                .unwrap_err()
                .contains("does not match")
        );
    }
}
