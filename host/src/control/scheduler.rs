//! The scheduler's decisions: which ready runs to claim.
