//! Live events of runs, for `GET /v1/runs/{id}/events`.
//!
//! A run executing in this process publishes its host calls, streamed LLM
//! text and status changes to a broadcast channel. A subscriber first gets
//! what the journal already holds, then the live events; if it falls
//! behind, or the run is executed by another process, it catches up from
//! the journal, so it never misses or reorders an entry. With a journal
//! that announces other processes' commits (PostgreSQL), such a catch-up
//! follows each commit of the run (`cluster.rs`); otherwise it comes every
//! [`CATCH_UP_EVERY`].

use super::Service;
use super::api::{entry_view, run_view};
use crate::engine::{Event, Observer, Phase};
use crate::journal::{Entry, EntryState};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// One thing that happened to a run.
#[derive(Clone, Debug)]
pub enum Live {
    /// A host call started or completed (an entry as the API shows it).
    Entry {
        seq: u64,
        completed: bool,
        view: Value,
    },
    /// A piece of streamed LLM text.
    Token { seq: u64, text: String },
    /// An LLM attempt failed and will be retried.
    Retry { seq: u64, message: String },
    /// The run's status may have changed: subscribers re-read it.
    Status,
}

/// The broadcast channels of runs that someone listens to.
#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Arc<Live>>>>,
}

/// Live events a slow subscriber may fall behind by before it catches up
/// from the journal.
const CAPACITY: usize = 1024;

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<Live>>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self, run_id: &str) -> broadcast::Receiver<Arc<Live>> {
        self.lock()
            .entry(run_id.to_string())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    pub fn publish(&self, run_id: &str, live: Live) {
        if let Some(tx) = self.lock().get(run_id) {
            let _ = tx.send(Arc::new(live));
        }
    }

    /// Tells every run's subscribers (announcements were missed).
    pub fn publish_all(&self, live: Live) {
        let live = Arc::new(live);
        for tx in self.lock().values() {
            let _ = tx.send(live.clone());
        }
    }

    /// Forgets the channel of a run nobody listens to any more.
    pub fn prune(&self, run_id: &str) {
        let mut channels = self.lock();
        if channels
            .get(run_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(run_id);
        }
    }

    /// The observer a run executing here reports its calls to.
    pub fn observer(self: &Hub, run_id: &str) -> Observer {
        // The hub lives as long as the service; the observer holds the
        // service's channel map through this pointer-free lookup.
        let tx = self
            .lock()
            .entry(run_id.to_string())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .clone();
        Arc::new(move |event: &Event| {
            if tx.receiver_count() == 0 {
                return;
            }
            if let Some(live) = live_of(event) {
                let _ = tx.send(Arc::new(live));
            }
        })
    }
}

/// Largest request or response carried whole by a live event; larger ones
/// are cut (with `"truncated": true`), so a run that floods its log cannot
/// fill the service's memory through the event channel. The whole entry
/// stays readable at `GET /v1/runs/{id}/entries`.
const LIVE_PAYLOAD_BYTES: usize = 64 << 10;

fn cut_large_payloads(view: &mut Value) {
    let mut cut = false;
    for key in ["request", "response"] {
        if let Some(Value::String(text)) = view.get_mut(key)
            && text.len() > LIVE_PAYLOAD_BYTES
        {
            let mut end = LIVE_PAYLOAD_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            cut = true;
        }
    }
    if cut {
        view["truncated"] = Value::Bool(true);
    }
}

fn live_of(event: &Event) -> Option<Live> {
    let now = crate::journal::now_ms();
    Some(match event.phase {
        Phase::Started | Phase::Completed => {
            let completed = event.phase == Phase::Completed;
            let entry = Entry {
                seq: event.seq,
                kind: event.kind,
                name: event.name.clone(),
                request_digest: String::new(),
                request: event.request.clone().unwrap_or_default(),
                response: event.response.clone(),
                state: if completed {
                    EntryState::Completed
                } else {
                    EntryState::Started
                },
                started_at_ms: now - event.duration.as_millis() as i64,
                finished_at_ms: completed.then_some(now),
                usage: event.usage,
                resolution: None,
                attempts: Vec::new(),
            };
            let mut view = entry_view(&entry);
            cut_large_payloads(&mut view);
            Live::Entry {
                seq: event.seq,
                completed,
                view,
            }
        }
        Phase::Token => Live::Token {
            seq: event.seq,
            text: event.detail.clone(),
        },
        Phase::Retrying => Live::Retry {
            seq: event.seq,
            message: event.detail.clone(),
        },
    })
}

/// How often a subscriber with no live events checks the journal (for runs
/// executed by another process, and status changes made elsewhere).
const CATCH_UP_EVERY: Duration = Duration::from_secs(1);

/// What a subscriber has sent: the highest seq, and whether it was sent
/// completed.
#[derive(Default)]
struct Sent {
    next: u64,
    last_completed: bool,
}

impl Sent {
    /// Whether an entry at `seq` is news to this subscriber.
    fn is_new(&self, seq: u64, completed: bool) -> bool {
        seq >= self.next || (seq + 1 == self.next && completed && !self.last_completed)
    }

    fn note(&mut self, seq: u64, completed: bool) {
        if seq >= self.next {
            self.next = seq + 1;
            self.last_completed = completed;
        } else if seq + 1 == self.next {
            self.last_completed |= completed;
        }
    }
}

/// The event stream of one run.
pub fn stream(
    service: Arc<Service>,
    run_id: String,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    let live = service.hub.subscribe(&run_id);
    tokio::spawn(async move {
        let _ = feed(&service, &run_id, live, &tx).await;
        service.hub.prune(&run_id);
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn sse(name: &str, data: &Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}

/// Sends the journal's entries, then live ones, until the run ends, the
/// client goes away or the service stops. `Err` means the client is gone.
async fn feed(
    service: &Service,
    run_id: &str,
    mut live: broadcast::Receiver<Arc<Live>>,
    tx: &mpsc::Sender<SseEvent>,
) -> Result<(), ()> {
    let mut sent = Sent::default();
    let mut status = None;
    if catch_up(service, run_id, &mut sent, &mut status, tx).await? {
        return Ok(());
    }
    let mut stopped = service.stopped.subscribe();
    loop {
        let received = tokio::select! {
            r = live.recv() => r,
            _ = tokio::time::sleep(CATCH_UP_EVERY) => Err(broadcast::error::RecvError::Lagged(0)),
            _ = stopped.wait_for(|s| *s) => return Ok(()),
        };
        match received {
            Ok(event) => match &*event {
                Live::Entry {
                    seq,
                    completed,
                    view,
                } => {
                    if sent.is_new(*seq, *completed) {
                        tx.send(sse("entry", view)).await.map_err(drop)?;
                        sent.note(*seq, *completed);
                    }
                }
                Live::Token { seq, text } => {
                    tx.send(sse("token", &json!({ "seq": seq, "text": text })))
                        .await
                        .map_err(drop)?;
                }
                Live::Retry { seq, message } => {
                    tx.send(sse("retry", &json!({ "seq": seq, "message": message })))
                        .await
                        .map_err(drop)?;
                }
                Live::Status => {
                    // The journal has every entry before a status change:
                    // send those first, then the status itself.
                    if catch_up(service, run_id, &mut sent, &mut status, tx).await? {
                        return Ok(());
                    }
                }
            },
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if catch_up(service, run_id, &mut sent, &mut status, tx).await? {
                    return Ok(());
                }
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

/// Sends what the journal has that this subscriber has not seen, and the
/// run's status if it changed. Returns true once the run is final (after
/// sending `end`).
async fn catch_up(
    service: &Service,
    run_id: &str,
    sent: &mut Sent,
    status: &mut Option<(crate::journal::RunStatus, i64)>,
    tx: &mpsc::Sender<SseEvent>,
) -> Result<bool, ()> {
    let journal = service.journal.clone();
    let id = run_id.to_string();
    let read = tokio::task::spawn_blocking(move || {
        let run = journal.find_run(&id)?;
        let entries = journal.entries(&id)?;
        Ok::<_, crate::journal::JournalError>((run, entries))
    })
    .await;
    let Ok(Ok((run, entries))) = read else {
        return Ok(false);
    };
    for entry in &entries {
        let completed = entry.state == EntryState::Completed;
        if sent.is_new(entry.seq, completed) {
            tx.send(sse("entry", &entry_view(entry)))
                .await
                .map_err(drop)?;
            sent.note(entry.seq, completed);
        }
    }
    let now = (run.status, run.updated_at_ms);
    if *status != Some(now) {
        *status = Some(now);
        let view = run_view(service, &run);
        if run.status.is_final() {
            tx.send(sse("end", &view)).await.map_err(drop)?;
            return Ok(true);
        }
        tx.send(sse("status", &view)).await.map_err(drop)?;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::Sent;

    #[test]
    fn an_entry_is_sent_once_started_and_once_completed_never_again() {
        let mut sent = Sent::default();
        assert!(sent.is_new(0, false));
        sent.note(0, false);
        assert!(!sent.is_new(0, false));
        assert!(sent.is_new(0, true));
        sent.note(0, true);
        assert!(!sent.is_new(0, true));
        assert!(sent.is_new(1, true));
        sent.note(1, true);
        assert!(!sent.is_new(0, true), "older entries are never resent");
        assert!(!sent.is_new(1, false));
    }
}
