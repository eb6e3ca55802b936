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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Divergence, Mode, TimerPolicy};
    use crate::journal::{Entry, EntryState};

    /// A completed entry at `seq` answering `response`.
    fn entry(seq: u64, kind: EntryKind, name: &str, response: &str) -> Entry {
        let mut e = Entry::new(seq, kind, name, "null".into());
        e.response = Some(response.into());
        e.state = EntryState::Completed;
        e
    }

    fn mono(seq: u64, value: u64) -> Entry {
        entry(seq, EntryKind::Clock, MONOTONIC, &value.to_string())
    }

    fn replay(entries: Vec<Entry>, tolerant: bool) -> Recorder {
        let mut r = Recorder::new("r".into(), None, entries, Mode::ReplayOnly, None);
        if tolerant {
            r.tolerate_monotonic_reads();
        }
        r
    }

    fn read_mono(r: &mut Recorder) -> Result<String, Stop> {
        r.monotonic(|| panic!("a replay reads no live clock"), || "still".into())
    }

    fn read(r: &mut Recorder, kind: EntryKind, name: &str) -> Result<String, Stop> {
        r.local(kind, name, "null".into(), || {
            panic!("a replay runs nothing live")
        })
    }

    fn diverged(result: Result<impl std::fmt::Debug, Stop>) -> Divergence {
        match result {
            Err(Stop::Diverged(d)) => d,
            other => panic!("expected a divergence, got {other:?}"),
        }
    }

    #[test]
    fn recorded_monotonic_reads_the_guest_does_not_make_are_skipped() {
        let wall = r#"[1700000000,0]"#;
        let mut r = replay(
            vec![
                mono(0, 5),
                mono(1, 6),
                entry(2, EntryKind::Clock, "wall", wall),
                mono(3, 7),
                mono(4, 8),
            ],
            true,
        );
        assert_eq!(read(&mut r, EntryKind::Clock, "wall").unwrap(), wall);
        assert_eq!(read_mono(&mut r).unwrap(), "7");
        // The guest returns with a recorded read left: skipped too.
        r.finish().unwrap();
        let t = r.tolerated().unwrap();
        assert_eq!((t.skipped, t.synthesized), (3, 0));
    }

    #[test]
    fn monotonic_reads_the_journal_does_not_hold_are_answered_without_an_entry() {
        let mut r = replay(
            vec![mono(0, 5), entry(1, EntryKind::Random, "u64", "42")],
            true,
        );
        assert_eq!(read_mono(&mut r).unwrap(), "5");
        // The journal holds a random read here: answered, nothing consumed.
        assert_eq!(read_mono(&mut r).unwrap(), "still");
        assert_eq!(r.next_seq(), 1);
        assert_eq!(read(&mut r, EntryKind::Random, "u64").unwrap(), "42");
        // Past the end of the journal, too.
        assert_eq!(read_mono(&mut r).unwrap(), "still");
        r.finish().unwrap();
        let t = r.tolerated().unwrap();
        assert_eq!((t.skipped, t.synthesized), (0, 2));
    }

    #[test]
    fn a_wall_clock_or_random_mismatch_still_diverges_at_its_entry() {
        let entries = || {
            vec![
                mono(0, 5),
                entry(1, EntryKind::Clock, "wall", "[1,0]"),
                entry(2, EntryKind::Random, "u64", "42"),
            ]
        };
        // Random where the wall clock was read: #1, past the skipped read.
        let mut r = replay(entries(), true);
        let d = diverged(read(&mut r, EntryKind::Random, "u64"));
        assert_eq!(d.seq, 1, "{d}");
        assert_eq!(d.expected.unwrap().name, "wall");
        // A wall read too many: the random entry is not skipped.
        let mut r = replay(entries(), true);
        read(&mut r, EntryKind::Clock, "wall").unwrap();
        let d = diverged(read(&mut r, EntryKind::Clock, "wall"));
        assert_eq!(d.seq, 2, "{d}");
        assert_eq!(d.expected.unwrap().kind, EntryKind::Random);
        // A random read left unmade is not skipped when the guest returns.
        let mut r = replay(entries(), true);
        read(&mut r, EntryKind::Clock, "wall").unwrap();
        assert_eq!(diverged(r.finish()).seq, 2);
    }

    #[test]
    fn without_tolerance_every_monotonic_read_is_matched_one_for_one() {
        let entries = || vec![mono(0, 5), entry(1, EntryKind::Clock, "wall", "[1,0]")];
        let mut r = replay(entries(), false);
        assert_eq!(diverged(read(&mut r, EntryKind::Clock, "wall")).seq, 0);
        let mut r = replay(entries(), false);
        read_mono(&mut r).unwrap();
        assert_eq!(diverged(read_mono(&mut r)).seq, 1);
        let mut r = replay(vec![mono(0, 5)], false);
        assert_eq!(diverged(r.finish()).seq, 0);
        assert_eq!(r.tolerated(), None);
        // A run that continues live (resume) never tolerates.
        let mut r = Recorder::new(
            "r".into(),
            None,
            entries(),
            Mode::Record(TimerPolicy::Wait),
            None,
        );
        r.tolerate_monotonic_reads();
        assert_eq!(r.tolerated(), None);
        assert_eq!(diverged(read(&mut r, EntryKind::Clock, "wall")).seq, 0);
    }
}
