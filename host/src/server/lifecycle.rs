//! What starts and stops with a service: the signals that stop it and the
//! hourly pruning of `--retain-days`.

use crate::journal::Journal;
use anyhow::Context as _;
use std::sync::Arc;
use std::time::Duration;

/// How often `--retain-days` prunes.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Prunes finished runs older than `age`, now and then every hour.
pub(super) async fn prune_every_hour(journal: Arc<dyn Journal>, age: Duration) {
    loop {
        let j = journal.clone();
        let request = crate::control::retention::finished_older_than(age);
        match tokio::task::spawn_blocking(move || j.prune(&request)).await {
            Ok(Ok(report)) if report.runs > 0 || report.blobs > 0 => eprintln!(
                "relive: retention: {}",
                crate::control::retention::describe(&report, false)
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("relive: warning: retention prune failed: {e}"),
            Err(e) => eprintln!("relive: warning: retention prune failed: {e}"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// SIGTERM and SIGINT handlers, installed before the service says it is
/// listening: a SIGTERM sent right after that must stop it gracefully.
pub(super) fn shutdown_signals()
-> anyhow::Result<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok((term, int))
}

pub(super) async fn shutdown_signal(
    (mut term, mut int): (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
) {
    tokio::select! {
        _ = term.recv() => eprintln!("relive: SIGTERM received, shutting down"),
        _ = int.recv() => eprintln!("relive: SIGINT received, shutting down"),
    }
}
