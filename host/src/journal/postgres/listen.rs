//! Wake-ups between processes: every commit of the writer sends one
//! notification (`pg_notify`) naming the runs it changed and whether a run
//! may have become ready; a cancel asked of another process is one too.
//! Each process listens on one connection and turns what arrives into
//! [`JournalEvent`]s for the service (its scheduler and its event streams),
//! so nobody polls.
//!
//! Notifications are delivered at commit, never for a rolled-back
//! transaction, and are lost while a listener is disconnected: after every
//! (re)connect the listener sends [`JournalEvent::Resync`], and whoever
//! listens looks at the tables again.

use super::client::Target;
use crate::journal::JournalEvent;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;

/// Largest payload sent in one notification (PostgreSQL refuses 8000
/// bytes and more).
const MAX_PAYLOAD: usize = 7900;
/// How often an idle listener checks that its connection still works.
const PING_EVERY: Duration = Duration::from_secs(10);
/// Longest wait between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The channel of one journal: databases are shared by their schemas'
/// journals, so the name is made from both.
pub(super) fn channel_name(database: &str, schema: &str) -> String {
    let digest = crate::journal::digest_hex(format!("{database}.{schema}").as_bytes());
    format!("relive_{}", &digest[..16])
}

/// The payloads announcing a commit that changed `runs` (`ready`: a run
/// may have become ready): `R|id,id,...` or `-|id,...`, cut to fit.
pub(super) fn change_payloads(runs: &[&str], ready: bool) -> Vec<String> {
    let head = if ready { "R|" } else { "-|" };
    let mut payloads = Vec::new();
    let mut current = head.to_string();
    for id in runs {
        if current.len() + id.len() + 1 > MAX_PAYLOAD && current.len() > head.len() {
            payloads.push(std::mem::replace(&mut current, head.to_string()));
        }
        if current.len() > head.len() {
            current.push(',');
        }
        current.push_str(id);
    }
    if current.len() > head.len() || ready {
        payloads.push(current);
    }
    payloads
}

/// The payload asking whoever executes `run_id` to cancel it.
pub(super) fn cancel_payload(run_id: &str, reason: Option<&str>) -> String {
    let reason = serde_json::to_string(&reason).expect("text serialises");
    let mut payload = format!("C|{run_id}|{reason}");
    if payload.len() > MAX_PAYLOAD {
        payload = format!("C|{run_id}|null");
    }
    payload
}

/// What a payload says.
pub(super) fn parse(payload: &str) -> Option<JournalEvent> {
    let (kind, rest) = payload.split_once('|')?;
    match kind {
        "R" | "-" => Some(JournalEvent::Changed {
            runs: rest
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            ready: kind == "R",
        }),
        "C" => {
            let (run_id, reason) = rest.split_once('|')?;
            let reason: Option<String> = serde_json::from_str(reason).ok()?;
            Some(JournalEvent::CancelRequested {
                run_id: run_id.to_string(),
                reason,
            })
        }
        _ => None,
    }
}

/// Listens on `channel` for as long as the journal lives (the task ends
/// with its runtime); `listening` is told when the first session listens.
pub(super) async fn listen(
    target: Arc<Target>,
    channel: String,
    events: broadcast::Sender<JournalEvent>,
    listening: tokio::sync::oneshot::Sender<()>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut listening = Some(listening);
    loop {
        if session(&target, &channel, &events, &mut listening).await {
            backoff = Duration::from_millis(50);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One listening session, until its connection fails. Returns whether it
/// got as far as listening.
async fn session(
    target: &Target,
    channel: &str,
    events: &broadcast::Sender<JournalEvent>,
    first: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> bool {
    let Ok((client, mut connection)) = target.config.connect(tokio_postgres::NoTls).await else {
        return false;
    };
    // The connection does all the I/O, LISTEN's included: poll it here and
    // take the notifications out.
    let forward = events.clone();
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if let Some(event) = parse(n.payload()) {
                        let _ = forward.send(event);
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let listen = format!("LISTEN {channel}");
    let listening = tokio::select! {
        r = client.batch_execute(&listen) => r.is_ok(),
        _ = &mut driver => false,
    };
    if !listening {
        driver.abort();
        return false;
    }
    // Anything sent while this process was not listening is lost.
    let _ = events.send(JournalEvent::Resync);
    if let Some(first) = first.take() {
        let _ = first.send(());
    }
    loop {
        tokio::select! {
            _ = &mut driver => return true,
            _ = tokio::time::sleep(PING_EVERY) => {
                let ping = tokio::time::timeout(Duration::from_secs(5), client.simple_query(""));
                if !matches!(ping.await, Ok(Ok(_))) {
                    driver.abort();
                    return true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_fit_and_read_back() {
        let ids: Vec<String> = (0..2000).map(|i| format!("run{i:07}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let payloads = change_payloads(&refs, true);
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            match parse(p) {
                Some(JournalEvent::Changed { runs, ready: true }) => back.extend(runs),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(back, ids);
        assert_eq!(change_payloads(&[], false), Vec::<String>::new());
        assert_eq!(change_payloads(&[], true), vec!["R|".to_string()]);
        let cancel = cancel_payload("abc", Some("it|is \"done\""));
        assert_eq!(
            parse(&cancel),
            Some(JournalEvent::CancelRequested {
                run_id: "abc".into(),
                reason: Some("it|is \"done\"".into())
            })
        );
    }
}
