//! Divergence: the first call of a replay that differs from the journal,
//! described so that a person can see what changed and why it matters.

use crate::journal::EntryKind;
use std::fmt;

/// One side of a divergence: a call as recorded or as made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallDescription {
    pub kind: EntryKind,
    pub name: String,
    pub request: String,
}

impl fmt::Display for CallDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` {}",
            self.kind,
            self.name,
            shorten(&self.request, 200)
        )
    }
}

/// The first call that differs from the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the journal entry that did not match.
    pub seq: u64,
    /// What the journal holds at `seq` (`None`: the journal ended).
    pub expected: Option<CallDescription>,
    /// What the agent did at `seq` (`None`: the agent finished).
    pub actual: Option<CallDescription>,
}

/// The causes worth checking first, printed under every divergence.
pub const DIVERGENCE_HINT: &str = "usual causes: the agent's code changed since the run was recorded (a changed prompt, \
tool arguments or call order); or the agent is nondeterministic outside the host's view (HashMap \
iteration order, global state). A run is pinned to the component it started with; test a new build \
against recorded runs with `relive replay`.";

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "diverged at entry #{}", self.seq)?;
        match &self.expected {
            Some(e) => writeln!(f, "  expected: {e}")?,
            None => writeln!(
                f,
                "  expected: the end of the journal (it has {} entries)",
                self.seq
            )?,
        }
        match &self.actual {
            Some(a) => writeln!(f, "  actual:   {a}")?,
            None => writeln!(f, "  actual:   the agent finished")?,
        }
        if let (Some(e), Some(a)) = (&self.expected, &self.actual)
            && e.kind == a.kind
            && e.name == a.name
            && let Some(diff) = first_difference(&e.request, &a.request)
        {
            writeln!(f, "  differs:  {diff}")?;
        }
        write!(f, "{DIVERGENCE_HINT}")
    }
}

/// The divergence of a replay that ran out of recorded answers at `seq`,
/// where the agent made the call described.
pub(super) fn journal_ended(seq: u64, kind: EntryKind, name: &str, request: String) -> super::Stop {
    super::Stop::Diverged(Divergence {
        seq,
        expected: None,
        actual: Some(CallDescription {
            kind,
            name: name.to_string(),
            request,
        }),
    })
}

/// Cuts `text` to `max` characters, marking the cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}… ({} bytes)", text.len())
}

/// Where two requests first differ, with a little context on each side.
fn first_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let at = expected
        .char_indices()
        .zip(actual.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)
        .unwrap_or_else(|| expected.len().min(actual.len()));
    let start = expected[..at]
        .char_indices()
        .rev()
        .nth(20)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let window = |s: &str| {
        let tail = s.get(start..).unwrap_or("");
        shorten(tail, 60)
    };
    Some(format!(
        "at byte {at}: expected …{} but got …{}",
        window(expected),
        window(actual)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_points_at_first_changed_byte() {
        let d = first_difference(r#"{"q":"wasm runtimes"}"#, r#"{"q":"wasm runtime"}"#).unwrap();
        assert!(d.contains("at byte 18"), "{d}");
        assert!(first_difference("same", "same").is_none());
    }

    #[test]
    fn divergence_message_names_index_expected_and_actual() {
        let d = Divergence {
            seq: 12,
            expected: Some(CallDescription {
                kind: EntryKind::Tool,
                name: "search".into(),
                request: "{\"q\":\"a\"}".into(),
            }),
            actual: Some(CallDescription {
                kind: EntryKind::Tool,
                name: "search".into(),
                request: "{\"q\":\"b\"}".into(),
            }),
        };
        let text = d.to_string();
        assert!(text.starts_with("diverged at entry #12"), "{text}");
        assert!(
            text.contains("expected: tool `search` {\"q\":\"a\"}"),
            "{text}"
        );
        assert!(
            text.contains("actual:   tool `search` {\"q\":\"b\"}"),
            "{text}"
        );
        assert!(text.contains("usual causes"), "{text}");
    }
}
