//! The record/replay engine (DESIGN §4): every host call goes through
//! [`Recorder`], written once for all of them.
//!
//! Host call number *i* is matched against journal entry *i* by kind, name
//! and request digest. A match returns the recorded answer without doing
//! anything; a mismatch stops the run with a [`Divergence`]; past the last
//! entry the call runs live and is recorded. Nothing is ever skipped,
//! reordered or invented.
//!
//! Commit rule (DESIGN §3): a non-idempotent call's `started` entry is
//! fsynced before the effect starts; any other external call's `started`
//! entry is committed (without fsync) before the request leaves the host, so
//! an idempotency key always names the request that was recorded; an
//! external result is committed before the guest sees it; local reads
//! (clock, random, log, poll) are written lazily.
//!
//! Bounds: a run's journal may hold at most `max_journal_mib` of requests and
//! responses (its budget); lazy writes waiting in the writer's queue are
//! bounded per run and in all, and a guest that produces them faster than
//! the journal commits waits for its own writes.

use crate::journal::{
    Commit, Completion, Durability, Entry, EntryKind, EntryState, Fence, Journal, JournalError,
    Resolution, Usage,
};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Whether a call may reach the outside world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Replay what the journal holds, then run live and record; timers that
    /// are not due behave as the policy says.
    Record(TimerPolicy),
    /// Replay only: a call past the end of the journal is a divergence.
    /// Used by `relive replay` and replay tests.
    ReplayOnly,
}

/// What an external call does when interrupted by a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Safe to run again with the same idempotency key (LLM calls, tools
    /// marked `idempotent`).
    Idempotent,
    /// Not safe: a crash during the call makes the run `uncertain`.
    NonIdempotent,
}

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

/// Why the host stopped a guest.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error("{0}")]
    Diverged(Divergence),
    #[error(
        "entry #{seq} ({kind} `{name}`) was interrupted by a crash and is not idempotent: it may or may not have taken effect"
    )]
    Uncertain {
        seq: u64,
        kind: EntryKind,
        name: String,
    },
    #[error("journal: {0}")]
    Journal(JournalError),
    #[error("entry #{seq} is damaged: {message}")]
    Damaged { seq: u64, message: String },
    /// The run went past a budget the operator set.
    #[error("{0}")]
    Budget(String),
    /// The run went past a resource limit.
    #[error("{0}")]
    Limit(String),
    /// The run waits for an approval, a time or a signal.
    #[error("waiting for {0}")]
    Suspended(crate::waiting::Waiting),
    /// The host is shutting down: the run stops before its next call and
    /// is left to be resumed.
    #[error("the host is shutting down; the run will be resumed")]
    Interrupted,
}

impl From<JournalError> for Stop {
    fn from(e: JournalError) -> Self {
        Stop::Journal(e)
    }
}

/// A host call as it happens, for progress output.
#[derive(Clone, Debug)]
pub struct Event {
    pub seq: u64,
    pub kind: EntryKind,
    pub name: String,
    pub phase: Phase,
    pub duration: Duration,
    pub usage: Option<Usage>,
    /// The request (for `started`) or the response (for `completed`), JSON.
    pub detail: String,
    /// The call's request (started and completed calls).
    pub request: Option<String>,
    /// The call's response (completed calls).
    pub response: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// An external call is about to run live.
    Started,
    /// A live call finished and is recorded.
    Completed,
    /// A piece of an LLM answer, streamed (`detail` is the text).
    Token,
    /// An attempt failed and will be retried (`detail` says why and when).
    Retrying,
}

/// Receives [`Event`]s for live calls (replayed calls are silent).
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// Lazy writes of one run that may wait in the writer's queue before the
/// run waits for them.
pub const RUN_BACKLOG_BYTES: usize = 256 << 10;
/// Lazy writes of one run that synchronous host calls (which cannot await)
/// may leave in the writer's queue before the run blocks on them.
pub const RUN_BACKLOG_HARD_BYTES: usize = 8 << 20;
/// Lazy writes of all runs that may wait in the writer's queue before each
/// run that adds one waits for its own.
pub const JOURNAL_BACKLOG_BYTES: usize = 32 << 20;

/// Position and answers of one run's journal; lives in the store.
pub struct Recorder {
    run_id: String,
    /// `None` in replay-only mode, where nothing is ever written; else the
    /// journal and the fence of this process's claim of the run.
    journal: Option<(Arc<dyn Journal>, Fence)>,
    /// Bytes of requests and responses in the run's journal so far.
    journal_bytes: u64,
    /// Lazy writes not yet known to be committed, with their sizes.
    pending: VecDeque<(Commit, usize)>,
    pending_bytes: usize,
    mode: Mode,
    recorded: Vec<Entry>,
    cursor: usize,
    llm_calls: u64,
    replaying: Arc<AtomicBool>,
    observer: Option<Observer>,
    /// Set when the host stops the guest; read after the guest returns.
    pub stop: Option<Stop>,
    limits: Option<crate::limits::Limits>,
    /// How waits for timers are handled in this process.
    pub timers: TimerPolicy,
    /// Set by the host to stop the run before its next call (shutdown).
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// What a timer that is not yet due does in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimerPolicy {
    /// Suspend the run (a one-shot `relive run`).
    #[default]
    Suspend,
    /// Wait in this process until it is due (`relive resume`).
    Wait,
    /// Wake it now, recorded as early (`relive resume --now`).
    WakeNow,
}

impl Recorder {
    /// A recorder positioned at the start of `recorded` (the run's journal
    /// so far; empty for a new run).
    pub fn new(
        run_id: String,
        journal: Option<(Arc<dyn Journal>, Fence)>,
        recorded: Vec<Entry>,
        mode: Mode,
        observer: Option<Observer>,
    ) -> Recorder {
        let replaying = Arc::new(AtomicBool::new(!recorded.is_empty()));
        let journal_bytes = recorded.iter().map(entry_bytes).sum();
        Recorder {
            run_id,
            journal,
            journal_bytes,
            pending: VecDeque::new(),
            pending_bytes: 0,
            mode,
            recorded,
            cursor: 0,
            llm_calls: 0,
            replaying,
            observer,
            stop: None,
            limits: None,
            timers: TimerPolicy::default(),
            interrupt: None,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Applies `max_host_calls` of `limits` to this run.
    pub fn set_limits(&mut self, limits: crate::limits::Limits) {
        self.limits = Some(limits);
    }

    /// Where live events go, if anywhere.
    pub fn observer(&self) -> Option<Observer> {
        self.observer.clone()
    }

    /// True while the guest is still inside the recorded part of the run;
    /// output it produces then was already shown the first time.
    pub fn replaying_flag(&self) -> Arc<AtomicBool> {
        self.replaying.clone()
    }

    /// The journal position the next call will take.
    pub fn next_seq(&self) -> u64 {
        self.cursor as u64
    }

    /// How many LLM calls came before the current one.
    pub fn llm_call_index(&self) -> u64 {
        self.llm_calls
    }

    /// The idempotency key of the call at `seq`: identical when the same
    /// call is re-issued after a crash.
    pub fn idempotency_key(&self, seq: u64) -> String {
        idempotency_key(&self.run_id, seq)
    }

    /// Entries recorded but not reached by the guest.
    pub fn remaining(&self) -> usize {
        self.recorded.len() - self.cursor
    }

    fn journal(&self) -> Result<(&Arc<dyn Journal>, &Fence), Stop> {
        self.journal.as_ref().map(|(j, f)| (j, f)).ok_or_else(|| {
            Stop::Journal(JournalError::Other(
                "a replay-only run tried to write to the journal".into(),
            ))
        })
    }

    /// Appends a new entry, after charging it to the run's journal budget.
    fn append(&mut self, entry: Entry, durability: Durability) -> Result<Commit, Stop> {
        self.charge(entry_bytes(&entry))?;
        let (journal, fence) = self.journal()?;
        Ok(journal.append(fence, entry, durability))
    }

    /// Counts `bytes` against the run's journal budget.
    fn charge(&mut self, bytes: u64) -> Result<(), Stop> {
        self.journal_bytes += bytes;
        if let Some(limits) = &self.limits
            && self.journal_bytes > limits.max_journal_bytes
        {
            return Err(Stop::Limit(format!(
                "the run's journal reached {} bytes, over its budget of {} bytes ({} MiB); {}",
                self.journal_bytes,
                limits.max_journal_bytes,
                limits.max_journal_bytes >> 20,
                limits.fix("max_journal_mib")
            )));
        }
        Ok(())
    }

    /// Keeps a lazy write to wait for when the queue is long.
    fn lazily(&mut self, commit: Commit, bytes: usize) {
        self.pending.push_back((commit, bytes));
        self.pending_bytes += bytes;
    }

    /// Whether this run must wait for its lazy writes before making more:
    /// its own backlog, or everybody's, is over its bound.
    fn backlogged(&self) -> bool {
        self.pending_bytes > RUN_BACKLOG_BYTES
            || (self.pending_bytes > 0
                && self
                    .journal
                    .as_ref()
                    .is_some_and(|(j, _)| j.backlog_bytes() > JOURNAL_BACKLOG_BYTES))
    }

    /// Backpressure, from an async host call: waits for this run's lazy
    /// writes when they are too many.
    pub async fn relieve(&mut self) -> Result<(), Stop> {
        if !self.backlogged() {
            return Ok(());
        }
        // Let the other runs of this process go first: a run that writes
        // this much is the one to wait.
        tokio::task::yield_now().await;
        while let Some((commit, bytes)) = self.pending.pop_front() {
            self.pending_bytes -= bytes;
            commit.wait().await?;
        }
        Ok(())
    }

    /// Backpressure, from a synchronous host call (clocks, random), which
    /// cannot await: once this run's lazy writes pass
    /// [`RUN_BACKLOG_HARD_BYTES`], blocks until they are committed. On a
    /// multi-threaded runtime the worker hands its other tasks to another
    /// thread first (`block_in_place`), so other runs go on.
    pub fn relieve_blocking(&mut self) -> Result<(), Stop> {
        if self.pending_bytes <= RUN_BACKLOG_HARD_BYTES {
            return Ok(());
        }
        let pending: Vec<(Commit, usize)> = self.pending.drain(..).collect();
        self.pending_bytes = 0;
        let wait = move || -> Result<(), JournalError> {
            for (commit, _) in pending {
                commit.wait_parked()?;
            }
            Ok(())
        };
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_threaded {
            tokio::task::block_in_place(wait)?;
        } else {
            wait()?;
        }
        Ok(())
    }

    /// Forgets lazy writes known to be committed (an awaited write came after
    /// them: the writer commits in order).
    fn committed(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
    }

    /// The recorded answer of `entry`, the current one; moves past it.
    fn replayed(&mut self, entry: Entry) -> Result<String, Stop> {
        let response = entry.response.ok_or(Stop::Damaged {
            seq: entry.seq,
            message: "completed entry without a response".into(),
        })?;
        self.advance();
        Ok(response)
    }

    fn advance(&mut self) {
        self.cursor += 1;
        if self.cursor >= self.recorded.len() {
            self.replaying.store(false, Ordering::Relaxed);
        }
    }

    /// Records a stop reason and turns it into a trap for the guest.
    pub fn fail(&mut self, stop: Stop) -> wasmtime::Error {
        let message = stop.to_string();
        self.stop = Some(stop);
        wasmtime::Error::msg(message)
    }

    /// Checks entry `recorded[cursor]` against a call; returns it if it
    /// matches.
    fn matching(
        &mut self,
        kind: EntryKind,
        name: &str,
        request: &str,
    ) -> Result<Option<Entry>, Stop> {
        let seq = self.cursor as u64;
        if self
            .interrupt
            .as_ref()
            .is_some_and(|i| i.load(Ordering::Relaxed))
        {
            return Err(Stop::Interrupted);
        }
        if let Some(limits) = &self.limits
            && seq >= limits.max_host_calls
        {
            return Err(Stop::Limit(format!(
                "the run made {seq} host calls, the limit; {}",
                limits.fix("max_host_calls")
            )));
        }
        let Some(entry) = self.recorded.get(self.cursor) else {
            if self.mode == Mode::ReplayOnly {
                return Err(journal_ended(seq, kind, name, request.to_string()));
            }
            return Ok(None);
        };
        // The same request text has the same digest: compare bytes first and
        // hash only when they differ (every replayed call goes through here).
        if entry.kind != kind
            || entry.name != name
            || (entry.request != request
                && entry.request_digest != crate::journal::digest_hex(request.as_bytes()))
        {
            return Err(Stop::Diverged(Divergence {
                seq,
                expected: Some(CallDescription {
                    kind: entry.kind,
                    name: entry.name.clone(),
                    request: entry.request.clone(),
                }),
                actual: Some(CallDescription {
                    kind,
                    name: name.to_string(),
                    request: request.to_string(),
                }),
            }));
        }
        Ok(Some(entry.clone()))
    }

    /// A local read (clock, random) or a log event: replayed from the
    /// journal, or produced by `live` and recorded lazily.
    pub fn local(
        &mut self,
        kind: EntryKind,
        name: &str,
        request: String,
        live: impl FnOnce() -> String,
    ) -> Result<String, Stop> {
        if let Some(response) = self.replay_local(kind, name, &request)? {
            return Ok(response);
        }
        let response = live();
        self.record_local(kind, name, request, response)
    }

    /// The first half of [`Recorder::local`], for local calls whose live
    /// part is async: the recorded answer if the run replays this call.
    pub fn replay_local(
        &mut self,
        kind: EntryKind,
        name: &str,
        request: &str,
    ) -> Result<Option<String>, Stop> {
        match self.matching(kind, name, request)? {
            Some(entry) => self.replayed(entry).map(Some),
            None => Ok(None),
        }
    }

    /// The second half of [`Recorder::local`]: records a live local call
    /// lazily and returns its response.
    pub fn record_local(
        &mut self,
        kind: EntryKind,
        name: &str,
        request: String,
        response: String,
    ) -> Result<String, Stop> {
        let seq = self.cursor as u64;
        let mut entry = Entry::new(seq, kind, name, request);
        entry.finished_at_ms = Some(entry.started_at_ms);
        entry.response = Some(response.clone());
        entry.state = EntryState::Completed;
        if let Some(observer) = &self.observer {
            observer(&Event {
                seq,
                kind,
                name: name.to_string(),
                phase: Phase::Completed,
                duration: Duration::ZERO,
                usage: None,
                detail: entry.request.clone(),
                request: Some(entry.request.clone()),
                response: Some(response.clone()),
            });
        }
        // Lazy: committed with the next batch; a crash that loses it is
        // harmless because nothing outside the sandbox saw it. A failure
        // poisons the run in the writer, so the next awaited write reports it.
        let bytes = entry_bytes(&entry) as usize;
        let commit = self.append(entry, Durability::Lazy)?;
        self.lazily(commit, bytes);
        // Live entries are not kept in memory: `cursor` runs ahead of
        // `recorded`, and `matching` treats every position past its end as
        // live.
        self.cursor += 1;
        Ok(response)
    }

    /// An external call (LLM, tool): replayed, re-executed after a crash, or
    /// run live and recorded. `live` gets the call's journal position.
    pub async fn external<F, Fut>(
        &mut self,
        kind: EntryKind,
        name: &str,
        request: String,
        effect: Effect,
        live: F,
    ) -> Result<String, Stop>
    where
        F: FnOnce(u64) -> Fut,
        Fut: Future<Output = Completion>,
    {
        if kind == EntryKind::Llm {
            self.llm_calls += 1;
        }
        let seq = self.cursor as u64;
        if let Some(entry) = self.matching(kind, name, &request)? {
            match entry.state {
                EntryState::Completed => {
                    return self.replayed(entry);
                }
                EntryState::Started if self.mode == Mode::ReplayOnly => {
                    // An interrupted call ends the recorded answers.
                    return Err(journal_ended(seq, kind, name, request));
                }
                EntryState::Started => {
                    let retry_allowed = effect == Effect::Idempotent
                        || matches!(entry.resolution, Some(Resolution::Retry { .. }));
                    if !retry_allowed {
                        return Err(Stop::Uncertain {
                            seq,
                            kind,
                            name: name.to_string(),
                        });
                    }
                    // Interrupted by a crash and safe to repeat: run it again
                    // with the same idempotency key, then complete the entry.
                    self.advance();
                    let response = self.run_live(seq, kind, name, &request, live).await?;
                    return Ok(response);
                }
            }
        }
        let entry = Entry::new(seq, kind, name, request.clone());
        // The request is committed before it leaves the host, so that the
        // idempotency key it carries always names this request, even if a
        // crash follows; a non-idempotent effect must not start before its
        // entry is on disk (fsync).
        let started = self.append(
            entry,
            match effect {
                Effect::NonIdempotent => Durability::Sync,
                Effect::Idempotent => Durability::Commit,
            },
        )?;
        started.wait().await?;
        self.committed();
        self.cursor += 1;
        self.replaying.store(false, Ordering::Relaxed);
        self.run_live(seq, kind, name, &request, live).await
    }

    async fn run_live<F, Fut>(
        &mut self,
        seq: u64,
        kind: EntryKind,
        name: &str,
        request: &str,
        live: F,
    ) -> Result<String, Stop>
    where
        F: FnOnce(u64) -> Fut,
        Fut: Future<Output = Completion>,
    {
        let begun = Instant::now();
        if let Some(observer) = &self.observer {
            observer(&Event {
                seq,
                kind,
                name: name.to_string(),
                phase: Phase::Started,
                duration: Duration::ZERO,
                usage: None,
                detail: request.to_string(),
                request: Some(request.to_string()),
                response: None,
            });
        }
        let completion = live(seq).await;
        let (response, usage) = (completion.response.clone(), completion.usage);
        self.charge(response.len() as u64)?;
        // The result is committed before the guest sees it.
        let (journal, fence) = self.journal()?;
        journal
            .complete(fence, seq, completion, Durability::Commit)
            .wait()
            .await?;
        self.committed();
        if let Some(observer) = &self.observer {
            observer(&Event {
                seq,
                kind,
                name: name.to_string(),
                phase: Phase::Completed,
                duration: begun.elapsed(),
                usage,
                detail: response.clone(),
                request: Some(request.to_string()),
                response: Some(response.clone()),
            });
        }
        Ok(response)
    }

    /// A patch marker: live, it is recorded and the patch applies; in a
    /// replay it applies only if the run recorded it here (a run recorded
    /// before the patch has something else at this position, which is left
    /// for the next call). `deprecated` markers are consumed when present
    /// and never recorded.
    pub fn patch(&mut self, id: &str, deprecated: bool) -> Result<bool, Stop> {
        if let Some(entry) = self.recorded.get(self.cursor) {
            if entry.kind == EntryKind::Patch && entry.name == id {
                self.advance();
                return Ok(true);
            }
            return Ok(false);
        }
        if deprecated {
            return Ok(true);
        }
        self.local(EntryKind::Patch, id, "null".into(), || "true".into())?;
        Ok(true)
    }

    /// A call that waits for something outside (approval, timer, signal):
    /// replayed when answered, completed here when a timer or a signal's
    /// timeout is due, else the run is suspended with what it waits for.
    pub async fn wait(
        &mut self,
        kind: EntryKind,
        name: &str,
        request: String,
    ) -> Result<String, Stop> {
        let seq = self.cursor as u64;
        let entry = match self.matching(kind, name, &request)? {
            Some(entry) if entry.state == EntryState::Completed => {
                return self.replayed(entry);
            }
            Some(entry) => {
                self.advance();
                entry
            }
            None => {
                let entry = Entry::new(seq, kind, name, request);
                // Durable before the run is suspended: the answer needs it.
                self.append(entry.clone(), Durability::Sync)?.wait().await?;
                self.committed();
                self.cursor += 1;
                self.replaying.store(false, Ordering::Relaxed);
                entry
            }
        };
        let waiting = crate::waiting::Waiting::of(&entry).ok_or_else(|| Stop::Damaged {
            seq,
            message: "a waiting call was recorded as something else".into(),
        })?;
        let now = crate::journal::now_ms();
        let response = match (kind, waiting.until_ms) {
            (EntryKind::Timer, Some(until)) => {
                if now < until {
                    match self.timers {
                        TimerPolicy::Suspend => return Err(Stop::Suspended(waiting)),
                        TimerPolicy::Wait => {
                            tokio::time::sleep(Duration::from_millis((until - now) as u64)).await
                        }
                        TimerPolicy::WakeNow => {}
                    }
                }
                let woke = crate::journal::now_ms();
                serde_json::json!({ "woke_at_ms": woke, "early": woke < until }).to_string()
            }
            (EntryKind::Signal, Some(until)) if now >= until => {
                serde_json::json!({ "payload": null, "timed_out": true }).to_string()
            }
            _ => return Err(Stop::Suspended(waiting)),
        };
        self.charge(response.len() as u64)?;
        let (journal, fence) = self.journal()?;
        journal
            .complete(
                fence,
                seq,
                Completion {
                    response: response.clone(),
                    ..Completion::default()
                },
                Durability::Commit,
            )
            .wait()
            .await?;
        self.committed();
        Ok(response)
    }

    /// Called when the guest returned: in a replay, every recorded entry
    /// must have been reached.
    pub fn finish(&self) -> Result<(), Stop> {
        if self.cursor < self.recorded.len() {
            let entry = &self.recorded[self.cursor];
            return Err(Stop::Diverged(Divergence {
                seq: entry.seq,
                expected: Some(CallDescription {
                    kind: entry.kind,
                    name: entry.name.clone(),
                    request: entry.request.clone(),
                }),
                actual: None,
            }));
        }
        Ok(())
    }
}

/// The divergence of a replay that ran out of recorded answers at `seq`,
/// where the agent made the call described.
fn journal_ended(seq: u64, kind: EntryKind, name: &str, request: String) -> Stop {
    Stop::Diverged(Divergence {
        seq,
        expected: None,
        actual: Some(CallDescription {
            kind,
            name: name.to_string(),
            request,
        }),
    })
}

/// The bytes an entry holds in the journal (request and response).
fn entry_bytes(entry: &Entry) -> u64 {
    (entry.request.len() + entry.response.as_ref().map_or(0, String::len)) as u64
}

/// The idempotency key of the call at `seq` of run `run_id`, sent with
/// outgoing requests and given to tools.
pub fn idempotency_key(run_id: &str, seq: u64) -> String {
    format!("relive-{run_id}-{seq}")
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
