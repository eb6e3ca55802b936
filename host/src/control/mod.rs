//! Control: what operators and schedulers do to runs from outside them —
//! answers, resolutions, cancels, leases and claims, retention. (The
//! service's scheduling loop, which drives claimed runs with the runtime,
//! lives with the service in `server/`.) Each is one
//! journal transaction that checks the run's state where it writes. This
//! folder knows the journal and nothing above it.

pub mod answers;
pub mod leases;
pub mod retention;
