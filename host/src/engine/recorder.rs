//! The recorder: one run's position in its journal, and the one wrapper
//! every host call goes through (DESIGN §4): replay a matching entry, stop
//! at a divergence, run live and record past the end.

use super::divergence::journal_ended;
use super::{
    Budget, CallDescription, Divergence, Effect, Event, Mode, Observer, Phase, Stop, TimerPolicy,
};
use crate::journal::{
    Commit, Completion, Durability, Entry, EntryKind, EntryState, Fence, Journal, JournalError,
    Resolution,
};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One call of a batch: what it is, and what it does live (given its
/// journal position).
pub struct BatchCall<'a> {
    pub kind: EntryKind,
    pub name: String,
    pub request: String,
    pub effect: Effect,
    pub live: Option<Box<dyn FnOnce(u64) -> BoxFuture<'a, Completion> + Send + 'a>>,
}

/// A boxed future, for the calls of a batch.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where an external call stands against the journal.
enum Planned {
    Replayed(String),
    Live { seq: u64, started: Option<Commit> },
}

/// Position and answers of one run's journal; lives in the store.
pub struct Recorder {
    pub(super) run_id: String,
    /// `None` in replay-only mode, where nothing is ever written; else the
    /// journal and the fence of this process's claim of the run.
    pub(super) journal: Option<(Arc<dyn Journal>, Fence)>,
    /// Bytes of requests and responses in the run's journal so far.
    pub(super) journal_bytes: u64,
    /// Lazy writes not yet known to be committed, with their sizes.
    pub(super) pending: VecDeque<(Commit, usize)>,
    pub(super) pending_bytes: usize,
    pub(super) mode: Mode,
    pub(super) recorded: Vec<Entry>,
    pub(super) cursor: usize,
    pub(super) llm_calls: u64,
    pub(super) replaying: Arc<AtomicBool>,
    pub(super) observer: Option<Observer>,
    /// Set when the host stops the guest; read after the guest returns.
    pub stop: Option<Stop>,
    pub(super) budget: Option<Budget>,
    /// How waits for timers are handled in this process.
    pub timers: TimerPolicy,
    /// Set by the host to stop the run before its next call (shutdown).
    pub interrupt: Option<Arc<AtomicBool>>,
    /// `Some` in a replay that tolerates monotonic clock reads.
    pub(super) tolerated: Option<super::ToleratedReads>,
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
            budget: None,
            timers: TimerPolicy::default(),
            interrupt: None,
            tolerated: None,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Holds this run to `budget` (host calls and journal bytes).
    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = Some(budget);
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
        super::idempotency_key(&self.run_id, seq)
    }

    /// Entries recorded but not reached by the guest.
    pub fn remaining(&self) -> usize {
        self.recorded.len() - self.cursor
    }

    pub(super) fn journal(&self) -> Result<(&Arc<dyn Journal>, &Fence), Stop> {
        self.journal.as_ref().map(|(j, f)| (j, f)).ok_or_else(|| {
            Stop::Journal(JournalError::Other(
                "a replay-only run tried to write to the journal".into(),
            ))
        })
    }

    /// Appends a new entry, after charging it to the run's journal budget.
    pub(super) fn append(&mut self, entry: Entry, durability: Durability) -> Result<Commit, Stop> {
        self.charge(entry_bytes(&entry))?;
        let (journal, fence) = self.journal()?;
        Ok(journal.append(fence, entry, durability))
    }

    /// The recorded answer of `entry`, the current one; moves past it.
    pub(super) fn replayed(&mut self, entry: Entry) -> Result<String, Stop> {
        let response = entry.response.ok_or(Stop::Damaged {
            seq: entry.seq,
            message: "completed entry without a response".into(),
        })?;
        self.advance();
        Ok(response)
    }

    pub(super) fn advance(&mut self) {
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
    pub(super) fn matching(
        &mut self,
        kind: EntryKind,
        name: &str,
        request: &str,
    ) -> Result<Option<Entry>, Stop> {
        self.skip_unasked_monotonic(Some((kind, name)));
        let seq = self.cursor as u64;
        if self
            .interrupt
            .as_ref()
            .is_some_and(|i| i.load(Ordering::Relaxed))
        {
            return Err(Stop::Interrupted);
        }
        if let Some(budget) = &self.budget
            && seq >= budget.max_host_calls
        {
            return Err(Stop::Limit(format!(
                "the run made {seq} host calls, the limit; {}",
                budget.raise_host_calls
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
        match self.plan(kind, name, &request, effect)? {
            Planned::Replayed(response) => Ok(response),
            Planned::Live { seq, started } => {
                if let Some(started) = started {
                    started.wait().await?;
                    self.committed();
                }
                self.run_live(seq, kind, name, &request, live).await
            }
        }
    }

    /// Several external calls at once (`chat-batch`, `call-batch`): each is
    /// matched against the journal in the order given, exactly as if they
    /// were made one after the other; the live ones run concurrently, and
    /// their results are recorded at their own positions, so a replay is the
    /// same whatever order they finished in. One result per call, in order.
    pub async fn external_batch<'a>(
        &mut self,
        calls: Vec<BatchCall<'a>>,
    ) -> Result<Vec<String>, Stop> {
        let mut results: Vec<Option<String>> = Vec::with_capacity(calls.len());
        let mut live = Vec::new();
        let mut commits = Vec::new();
        for (index, call) in calls.into_iter().enumerate() {
            match self.plan(call.kind, &call.name, &call.request, call.effect)? {
                Planned::Replayed(response) => results.push(Some(response)),
                Planned::Live { seq, started } => {
                    commits.extend(started);
                    results.push(None);
                    live.push((index, seq, call));
                }
            }
        }
        // Every request is committed before any of them leaves the host.
        for commit in commits {
            commit.wait().await?;
        }
        self.committed();
        let begun = Instant::now();
        self.emit_batch_started(&live, begun);
        // Each result is written as soon as its call ends, so a crash while
        // others still run keeps it: only the unfinished calls run again.
        let mut running: futures_util::stream::FuturesUnordered<_> = live
            .iter_mut()
            .enumerate()
            .map(|(slot, (_, seq, call))| {
                let run = call.live.take().expect("each call runs once");
                let future = run(*seq);
                async move { (slot, future.await) }
            })
            .collect();
        let mut pending = Vec::with_capacity(live.len());
        let mut done: Vec<(usize, String, Option<crate::journal::Usage>)> = Vec::new();
        while let Some((slot, completion)) = futures_util::StreamExt::next(&mut running).await {
            let seq = live[slot].1;
            let response = completion.response.clone();
            let usage = completion.usage;
            self.charge(response.len() as u64)?;
            let (journal, fence) = self.journal()?;
            pending.push(journal.complete(fence, seq, completion, Durability::Commit));
            done.push((slot, response, usage));
        }
        drop(running);
        for (slot, response, usage) in done {
            let (index, seq, call) = &live[slot];
            self.emit(
                *seq,
                call.kind,
                &call.name,
                Phase::Completed,
                &call.request,
                Some(&response),
                usage,
                begun,
            );
            results[*index] = Some(response);
        }
        // Every result is committed before the guest sees any of them.
        for commit in pending {
            commit.wait().await?;
        }
        self.committed();
        Ok(results
            .into_iter()
            .map(|r| r.expect("every call answered"))
            .collect())
    }

    /// Emits the `started` event of each call of a batch that runs live.
    fn emit_batch_started(&self, live: &[(usize, u64, BatchCall<'_>)], begun: Instant) {
        for (_, seq, call) in live {
            self.emit(
                *seq,
                call.kind,
                &call.name,
                Phase::Started,
                &call.request,
                None,
                None,
                begun,
            );
        }
    }

    /// Where an external call stands against the journal: its recorded
    /// answer, or the position it runs at live (with the commit of its new
    /// `started` entry, when it had none).
    fn plan(
        &mut self,
        kind: EntryKind,
        name: &str,
        request: &str,
        effect: Effect,
    ) -> Result<Planned, Stop> {
        if kind == EntryKind::Llm {
            self.llm_calls += 1;
        }
        let matched = self.matching(kind, name, request)?;
        let seq = self.cursor as u64;
        if let Some(entry) = matched {
            return match entry.state {
                EntryState::Completed => self.replayed(entry).map(Planned::Replayed),
                // An interrupted call ends the recorded answers.
                EntryState::Started if self.mode == Mode::ReplayOnly => {
                    Err(journal_ended(seq, kind, name, request.to_string()))
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
                    // with the same idempotency key, then complete the entry
                    // — once this process is known to still hold the run.
                    let (journal, fence) = self.journal()?;
                    let confirmed = journal.confirm(fence);
                    self.advance();
                    Ok(Planned::Live {
                        seq,
                        started: Some(confirmed),
                    })
                }
            };
        }
        let entry = Entry::new(seq, kind, name, request.to_string());
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
        self.cursor += 1;
        self.replaying.store(false, Ordering::Relaxed);
        Ok(Planned::Live {
            seq,
            started: Some(started),
        })
    }

    /// Tells the observer about a live call.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        seq: u64,
        kind: EntryKind,
        name: &str,
        phase: Phase,
        request: &str,
        response: Option<&str>,
        usage: Option<crate::journal::Usage>,
        begun: Instant,
    ) {
        if let Some(observer) = &self.observer {
            observer(&Event {
                seq,
                kind,
                name: name.to_string(),
                phase,
                duration: if phase == Phase::Completed {
                    begun.elapsed()
                } else {
                    Duration::ZERO
                },
                usage,
                detail: response.unwrap_or(request).to_string(),
                request: Some(request.to_string()),
                response: response.map(str::to_string),
            });
        }
    }

    pub(super) async fn run_live<F, Fut>(
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

    /// Called when the guest returned: in a replay, every recorded entry
    /// must have been reached.
    pub fn finish(&mut self) -> Result<(), Stop> {
        self.skip_unasked_monotonic(None);
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

/// The bytes an entry holds in the journal (request and response).
pub(super) fn entry_bytes(entry: &Entry) -> u64 {
    (entry.request.len() + entry.response.as_ref().map_or(0, String::len)) as u64
}
