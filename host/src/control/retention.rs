//! Retention: which runs a prune deletes, and a prune in words.
