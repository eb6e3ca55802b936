//! Patch markers: change an agent without breaking the runs recorded before
//! the change (like Temporal's `patched`).
//!
//! ```no_run
//! if relive_sdk::patched("shorter-summary") {
//!     // the new code: new runs, and runs that recorded the marker
//! } else {
//!     // the old code: runs recorded before the patch, when replayed
//! }
//! ```
//!
//! Once no run recorded before the patch is left (check with `relive runs`
//! and `relive upgrade`), retire it: delete the old branch and call
//! [`deprecate_patch`] where `patched` was, so runs that recorded the marker
//! still replay. When those are gone too, delete the call.

/// True when this point is reached with the patch in place; false when
/// replaying a run recorded before the patch.
pub fn patched(id: &str) -> bool {
    crate::bindings::relive::agent::patches::patched(id)
}

/// Marks a retired patch: accepts the marker in runs that recorded it, and
/// records nothing in new runs.
pub fn deprecate_patch(id: &str) {
    crate::bindings::relive::agent::patches::deprecate(id)
}
