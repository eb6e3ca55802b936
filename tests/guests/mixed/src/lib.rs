//! `mixed`: the agent of the crash campaign (tests/campaign.rs). It makes
//! every kind of host call a real agent makes, in rounds, so that a kill at a
//! random time lands in each of them.
//!
//! Input: the number of rounds, e.g. `5`. Each round makes seven host calls:
//!
//! 1. a log line (`log`, written lazily);
//! 2. a wall-clock read and 3. a random read (local, written lazily);
//! 4. an LLM call whose prompt carries the clock and the random value, so a
//!    request re-sent after a crash differs from the first one if those
//!    reads were lost;
//! 5. a random read that picks how long the next tool works (10–39 ms);
//! 6. the idempotent tool `lookup`, with the model's answer and that time;
//! 7. the non-idempotent tool `send`, with a digest of everything so far.
//!
//! Output: `{"rounds":N,"calls":7N,"digest":"<16 hex digits>"}`, where the
//! digest (64-bit FNV-1a) covers every answer the host gave. It is a pure
//! function of those answers, so a resumed run prints what a replay of its
//! journal prints.

use relive_sdk::{llm, log, random, tools};
use std::time::{SystemTime, UNIX_EPOCH};

/// Host calls per round.
pub const CALLS_PER_ROUND: u64 = 7;

/// Most rounds one run may ask for.
pub const MAX_ROUNDS: u64 = 1_000;

/// The idempotent tool.
pub const LOOKUP: &str = "lookup";

/// The non-idempotent tool.
pub const SEND: &str = "send";

/// A running 64-bit FNV-1a digest.
#[derive(Clone, Debug)]
pub struct Digest(u64);

impl Digest {
    pub fn new() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    /// Folds in a text, preceded by its length.
    pub fn text(&mut self, text: &str) {
        for b in (text.len() as u64)
            .to_le_bytes()
            .iter()
            .chain(text.as_bytes())
        {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl Default for Digest {
    fn default() -> Digest {
        Digest::new()
    }
}

/// Parses the input: a whole number of rounds, 1 to [`MAX_ROUNDS`].
pub fn parse_rounds(input: &str) -> Result<u64, String> {
    match input.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_ROUNDS).contains(&n) => Ok(n),
        _ => Err(format!(
            "mixed: the input must be a number of rounds from 1 to {MAX_ROUNDS}, e.g. 5; got {input:?}"
        )),
    }
}

/// One round: seven host calls, every answer folded into `digest`.
fn round(round: u64, rounds: u64, digest: &mut Digest) -> Result<(), String> {
    log::info(&format!("round {round} of {rounds}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("mixed: round {round}: the clock is before 1970: {e}"))?
        .as_nanos();
    let nonce = random::u64();
    digest.text(&format!("{now} {nonce}"));

    let prompt = format!("round {round} of {rounds} at {now}, nonce {nonce:016x}");
    let request = llm::ChatRequest::new(vec![llm::Message::user(prompt)]);
    let answer = llm::chat(&request)
        .map_err(|e| format!("mixed: round {round}: llm: {}", e.describe()))?
        .message
        .content;
    digest.text(&answer);

    let ms = 10 + random::u64() % 30;
    let args = serde_json::json!({ "round": round, "ms": ms, "text": answer }).to_string();
    let found = tools::call_json(LOOKUP, &args)
        .map_err(|e| format!("mixed: round {round}: tool `{LOOKUP}` {}", e.describe()))?;
    digest.text(&found);

    let args = serde_json::json!({ "round": round, "ms": ms, "digest": digest.hex() }).to_string();
    let sent = tools::call_json(SEND, &args)
        .map_err(|e| format!("mixed: round {round}: tool `{SEND}` {}", e.describe()))?;
    digest.text(&sent);
    Ok(())
}

/// The agent: the component's `run` export.
pub struct Mixed;

impl relive_sdk::Agent for Mixed {
    fn run(input: String) -> Result<String, String> {
        let rounds = parse_rounds(&input)?;
        let mut digest = Digest::new();
        for r in 1..=rounds {
            round(r, rounds, &mut digest)?;
        }
        Ok(format!(
            r#"{{"rounds":{rounds},"calls":{},"digest":"{}"}}"#,
            rounds * CALLS_PER_ROUND,
            digest.hex()
        ))
    }
}

relive_sdk::export_agent!(Mixed);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_checked() {
        assert_eq!(parse_rounds(" 5\n"), Ok(5));
        for bad in ["", "0", "-1", "x", "1001"] {
            assert!(parse_rounds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digest_covers_lengths() {
        let (mut a, mut b) = (Digest::new(), Digest::new());
        a.text("ab");
        a.text("c");
        b.text("a");
        b.text("bc");
        assert_ne!(a.hex(), b.hex());
    }
}
