//! Calls that wait for something outside the run — approvals, timers,
//! signals — and patch markers, on the recorder.

use super::{Recorder, Stop, TimerPolicy};
use crate::journal::{
    AnswerJson, Completion, Durability, Entry, EntryKind, EntryState, SignalAnswer, TimerAnswer,
    Waiting,
};
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Recorder {
    /// A patch marker: live, it is recorded and the patch applies; in a
    /// replay it applies only if the run recorded it here (a run recorded
    /// before the patch has something else at this position, which is left
    /// for the next call). `deprecated` markers are consumed when present
    /// and never recorded.
    pub fn patch(&mut self, id: &str, deprecated: bool) -> Result<bool, Stop> {
        self.skip_unasked_monotonic(Some((EntryKind::Patch, id)));
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
        let matched = self.matching(kind, name, &request)?;
        let seq = self.cursor as u64;
        let entry = match matched {
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
        let waiting = Waiting::of(&entry).ok_or_else(|| Stop::Damaged {
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
                TimerAnswer {
                    woke_at_ms: woke,
                    early: woke < until,
                }
                .to_json()
            }
            (EntryKind::Signal, Some(until)) if now >= until => SignalAnswer::timed_out().to_json(),
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

    /// A wait for child runs (`agents.join`): replayed when answered; else
    /// `check` says how the children ended — `Some(answer)` once every one
    /// has, and the entry is completed with it — or the run is suspended
    /// until they have (it is woken when one ends).
    pub async fn await_children<F, Fut>(
        &mut self,
        request: String,
        check: F,
    ) -> Result<String, Stop>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<String>, Stop>>,
    {
        let matched = self.matching(EntryKind::Join, "join", &request)?;
        let seq = self.cursor as u64;
        let entry = match matched {
            Some(entry) if entry.state == EntryState::Completed => {
                return self.replayed(entry);
            }
            Some(_) if self.mode == super::Mode::ReplayOnly => {
                return Err(super::divergence::journal_ended(
                    seq,
                    EntryKind::Join,
                    "join",
                    request,
                ));
            }
            Some(entry) => {
                self.advance();
                entry
            }
            None => {
                let entry = Entry::new(seq, EntryKind::Join, "join", request);
                // Durable before the run is suspended: its children wake it.
                self.append(entry.clone(), Durability::Sync)?.wait().await?;
                self.committed();
                self.cursor += 1;
                self.replaying.store(false, Ordering::Relaxed);
                entry
            }
        };
        let Some(response) = check().await? else {
            let waiting = Waiting::of(&entry).ok_or_else(|| Stop::Damaged {
                seq,
                message: "a join was recorded as something else".into(),
            })?;
            return Err(Stop::Suspended(waiting));
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
}
