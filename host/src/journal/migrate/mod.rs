//! Copying a whole journal into another one, and checking the copy: what
//! `relive migrate` does to move from SQLite to PostgreSQL (or back).
//!
//! Everything goes through the [`Journal`](super::Journal) trait, so any
//! backend copies into any other: runs are read with their entries (blobs
//! unpacked) and stored with [`Journal::import_run`](super::Journal::import_run),
//! each run in one transaction, after the component it is pinned to. The
//! destination packs large payloads into its own blobs again.
//!
//! The check ([`verify`]) reads both journals again and compares, run by
//! run, a digest over the run's record and every entry's content (kind,
//! name, request, response, state, times, usage, resolution, attempts), and
//! the totals: runs per status, entries, components (their bytes checked
//! against their digests). It is separate from the copy, so a finished
//! copy can be checked again at any time (`relive migrate --verify-only`).
//!
//! What is not copied: leases and the registry of relive processes
//! (`instances`) — they describe processes of the source, which must be
//! stopped before it is copied — and blobs or components no run uses any
//! more (what `relive prune` would delete). An unfinished run arrives ready
//! to be picked up: a service on the destination replays it and finds what
//! it waits for (a due timer, an answered approval) again.

mod copy;
mod verify;

pub use copy::{CopyReport, copy_runs, ensure_empty};
pub use verify::{Difference, RunDigest, Side, Verification, run_digest, verify};
