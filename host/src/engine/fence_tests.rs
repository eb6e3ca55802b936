//! A call interrupted by a crash is run again by whoever claims the run
//! next — but only while it still holds the run: a process that lost its
//! lease (paused, starved of CPU) while replaying must not repeat the call
//! after the new holder did (issue 18's load test found it).

use super::{Effect, Mode, Recorder, Stop, TimerPolicy};
use crate::journal::{
    Completion, Durability, Entry, EntryKind, Journal, JournalError, NewRun, OpenOptions,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn journal(dir: &tempfile::TempDir) -> Arc<dyn Journal> {
    let options = OpenOptions {
        create: true,
        ..OpenOptions::default()
    };
    let j = crate::journal::open(dir.path().join("j.db"), options).unwrap();
    j.put_component("sha256:c", b"bytes")
        .wait_blocking()
        .unwrap();
    j.create_run(NewRun {
        id: "r".into(),
        agent: "a".into(),
        component_digest: "sha256:c".into(),
        input: "in".into(),
        config_path: None,
        policy: None,
        parent: None,
        lease: None,
    })
    .wait_blocking()
    .unwrap();
    j
}

#[test]
fn an_interrupted_call_is_not_run_again_by_a_process_that_lost_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(&dir);
    let long = Duration::from_secs(60);
    // A crashed process left the call started.
    let crashed = j.claim("r", "i-crashed", long, None).unwrap().unwrap();
    let started = Entry::new(0, EntryKind::Tool, "search", "{}".into());
    j.append(&crashed, started, Durability::Commit)
        .wait_blocking()
        .unwrap();
    // Process a claims the run and reads its journal; before it gets to
    // the call, process b takes the run over.
    let a = j
        .claim("r", "i-a", long, Some("i-crashed"))
        .unwrap()
        .unwrap();
    let recorded = j.entries("r").unwrap();
    let _b = j.claim("r", "i-b", long, Some("i-a")).unwrap().unwrap();

    let mode = Mode::Record(TimerPolicy::Wait);
    let mut recorder = Recorder::new("r".into(), Some((j.clone(), a)), recorded, mode, None);
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(recorder.external(
        EntryKind::Tool,
        "search",
        "{}".into(),
        Effect::Idempotent,
        |_| async move {
            flag.store(true, Ordering::SeqCst);
            Completion {
                response: "\"again\"".into(),
                ..Completion::default()
            }
        },
    ));
    assert!(
        !ran.load(Ordering::SeqCst),
        "the call ran again in a process that lost the run"
    );
    assert!(
        matches!(outcome, Err(Stop::Journal(JournalError::LeaseLost { .. }))),
        "{outcome:?}"
    );
}
