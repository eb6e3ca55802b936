//! Monotonic clock reads in a fixture replay: matched by order, not by
//! count.
//!
//! A JavaScript engine (SpiderMonkey in every componentize-js component)
//! reads the monotonic clock on its own — for garbage-collection slices and
//! its event loop — as often as its heap makes it. A change to the agent or
//! its SDK that leaves every other call as it was still moves those reads,
//! and a fixture recorded before the change would diverge on one of them.
//! Monotonic values mean nothing but their order, so a pure replay of a
//! fixture (`relive replay`, `relive::testing`) tolerates them:
//!
//! - a recorded monotonic read the guest does not make is skipped: before
//!   any other call is matched, the recorded monotonic reads in front of it
//!   are passed over (and so are those left at the end when the guest
//!   returns);
//! - a monotonic read the guest makes where the journal holds another kind
//!   of entry (or nothing more) consumes no entry and is answered by the
//!   caller's `unrecorded` value (the clock keeps the last value the guest
//!   saw, so time stands still but never runs backwards).
//!
//! Every other entry — the wall clock and randomness included, whose values
//! the agent may act on — is matched strictly. A resume and an upgrade
//! check stay strict too: they continue a run whose journal positions must
//! stay exact.

use super::{Recorder, Stop};
use crate::journal::EntryKind;

/// The name of the monotonic clock's entries (kind `clock`).
pub const MONOTONIC: &str = "monotonic";

/// How many monotonic reads a fixture replay did not match one for one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ToleratedReads {
    /// Recorded monotonic reads the guest did not make.
    pub skipped: u64,
    /// Monotonic reads the guest made that the journal did not hold.
    pub synthesized: u64,
}

impl ToleratedReads {
    /// True when every monotonic read matched one for one.
    pub fn is_empty(&self) -> bool {
        self.skipped == 0 && self.synthesized == 0
    }
}

fn is_monotonic(kind: EntryKind, name: &str) -> bool {
    kind == EntryKind::Clock && name == MONOTONIC
}

impl Recorder {
    /// Makes this pure replay tolerate monotonic clock reads (see the
    /// module's doc). Ignored unless the recorder is replay-only: a run that
    /// continues live needs every position exact.
    pub fn tolerate_monotonic_reads(&mut self) {
        if self.mode == super::Mode::ReplayOnly {
            self.tolerated = Some(ToleratedReads::default());
        }
    }

    /// The monotonic reads tolerated so far; `None` when reads are matched
    /// strictly.
    pub fn tolerated(&self) -> Option<ToleratedReads> {
        self.tolerated
    }

    /// A monotonic clock read: replayed, or produced by `live` and recorded;
    /// in a tolerant replay, answered by `unrecorded` without consuming an
    /// entry when the journal holds no monotonic read here.
    pub fn monotonic(
        &mut self,
        live: impl FnOnce() -> String,
        unrecorded: impl FnOnce() -> String,
    ) -> Result<String, Stop> {
        if let Some(tolerated) = &mut self.tolerated
            && !self
                .recorded
                .get(self.cursor)
                .is_some_and(|e| is_monotonic(e.kind, &e.name))
        {
            tolerated.synthesized += 1;
            return Ok(unrecorded());
        }
        self.local(EntryKind::Clock, MONOTONIC, "null".into(), live)
    }

    /// Before a call other than a monotonic read is matched (`None`: before
    /// the end of the journal is checked): in a tolerant replay, passes over
    /// the recorded monotonic reads at the cursor.
    pub(super) fn skip_unasked_monotonic(&mut self, call: Option<(EntryKind, &str)>) {
        if self.tolerated.is_none() || call.is_some_and(|(kind, name)| is_monotonic(kind, name)) {
            return;
        }
        while self
            .recorded
            .get(self.cursor)
            .is_some_and(|e| is_monotonic(e.kind, &e.name))
        {
            self.advance();
            if let Some(tolerated) = &mut self.tolerated {
                tolerated.skipped += 1;
            }
        }
    }
}
