//! Output for people: progress lines, the runs table and a run's timeline.

use crate::engine::{Event, Observer, Phase, shorten};
use crate::journal::{Entry, EntryKind, EntryState, RunRecord};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

/// Prints one line per live host call on stderr; clock and random reads
/// only when `verbose`; with `stream`, an LLM answer's text as it arrives.
pub fn progress_observer(verbose: bool, stream: bool) -> Observer {
    let streaming = Arc::new(std::sync::atomic::AtomicBool::new(false));
    Arc::new(move |event: &Event| {
        use std::sync::atomic::Ordering;
        match event.phase {
            Phase::Token if stream => {
                let mut err = io::stderr().lock();
                if !streaming.swap(true, Ordering::Relaxed) {
                    let _ = write!(err, "  #{:<5} llm  ▸ ", event.seq);
                }
                let _ = write!(err, "{}", event.detail.replace('\n', "\n           "));
                let _ = err.flush();
                return;
            }
            Phase::Retrying => {
                eprintln!(
                    "  #{:<5} {:<9} {:<16} {}",
                    event.seq,
                    event.kind.as_str(),
                    event.name,
                    event.detail
                );
                return;
            }
            Phase::Completed => {
                if streaming.swap(false, Ordering::Relaxed) {
                    eprintln!();
                }
            }
            _ => return,
        }
        match event.kind {
            EntryKind::Log => {
                let message = serde_json::from_str::<serde_json::Value>(&event.detail)
                    .ok()
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
                    .unwrap_or_default();
                eprintln!("  #{:<5} log   {:<5} {message}", event.seq, event.name);
            }
            EntryKind::Clock | EntryKind::Random | EntryKind::ToolList if !verbose => {}
            _ => {
                let tokens = event
                    .usage
                    .map(|u| format!("  {} in / {} out tokens", u.input_tokens, u.output_tokens))
                    .unwrap_or_default();
                eprintln!(
                    "  #{:<5} {:<9} {:<16} {:>8}{tokens}  {}",
                    event.seq,
                    event.kind.as_str(),
                    event.name,
                    duration(event.duration),
                    shorten(&summarize(event.kind, &event.detail), 80)
                );
            }
        }
    })
}

/// A recorded answer in a few words: an LLM answer's text or the tools it
/// asks for, a tool's result, or the error.
pub fn summarize(kind: EntryKind, response: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(response) else {
        return response.to_string();
    };
    if let Some(err) = value.get("Err") {
        let message = err
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        let kind = err.get("kind").and_then(|k| k.as_str()).unwrap_or("error");
        return format!("error ({kind}): {message}");
    }
    let Some(ok) = value.get("Ok") else {
        return response.to_string();
    };
    match (kind, ok) {
        (EntryKind::Llm, ok) => {
            let message = &ok["message"];
            let calls: Vec<String> = message["tool_calls"]
                .as_array()
                .map(|calls| {
                    calls
                        .iter()
                        .map(|c| {
                            format!(
                                "{} {}",
                                c["name"].as_str().unwrap_or("?"),
                                c["arguments"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if calls.is_empty() {
                format!(
                    "answer: {}",
                    message["content"].as_str().unwrap_or_default()
                )
            } else {
                format!("calls {}", calls.join(", "))
            }
        }
        (_, serde_json::Value::String(text)) => text.clone(),
        (_, other) => other.to_string(),
    }
}

/// `12 ms`, `1.4 s`, `85 µs`.
pub fn duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1000 {
        format!("{micros} µs")
    } else if micros < 10_000_000 {
        format!("{} ms", micros / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

pub use crate::journal::utc as timestamp;

/// The runs, one line each; a child run indented under its parent by its
/// depth in the tree.
pub fn runs_table(
    runs: &[RunRecord],
    depths: &[usize],
    waits: &[Option<crate::journal::Waiting>],
    out: &mut dyn Write,
) -> io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "no runs yet; start one with `relive run AGENT`");
    }
    let ids: Vec<String> = runs
        .iter()
        .zip(depths)
        .map(|(r, depth)| {
            if *depth == 0 {
                r.id.clone()
            } else {
                format!("{}└ {}", "  ".repeat(depth - 1), r.id)
            }
        })
        .collect();
    let width = ids
        .iter()
        .map(|i| i.chars().count())
        .max()
        .unwrap_or(10)
        .max(10);
    writeln!(
        out,
        "{:<width$}  {:<16}  {:<10}  {:<19}  {:<19}  input",
        "id", "agent", "status", "created (UTC)", "updated (UTC)"
    )?;
    for ((r, w), id) in runs.iter().zip(waits).zip(&ids) {
        writeln!(
            out,
            "{:<width$}  {:<16}  {:<10}  {:<19}  {:<19}  {}",
            id,
            shorten(&r.agent, 16),
            r.status.as_str(),
            timestamp(r.created_at_ms),
            timestamp(r.updated_at_ms),
            shorten(&r.input.replace('\n', " "), 40)
        )?;
        if let Some(w) = w {
            writeln!(out, "{:<width$}  ↳ waiting for {w}", "")?;
        }
    }
    Ok(())
}

pub fn timeline(
    run: &RunRecord,
    entries: &[Entry],
    full: bool,
    cost: Option<f64>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let cut = |s: &str, n: usize| {
        if full { s.to_string() } else { shorten(s, n) }
    };
    timeline_header(run, entries, &cut, out)?;
    let (mut tokens_in, mut tokens_out, mut llm_calls, mut tool_calls) = (0u64, 0u64, 0, 0);
    for e in entries {
        if let Some(u) = e.usage {
            tokens_in += u64::from(u.input_tokens);
            tokens_out += u64::from(u.output_tokens);
        }
        match e.kind {
            EntryKind::Llm => llm_calls += 1,
            EntryKind::Tool => tool_calls += 1,
            _ => {}
        }
        timeline_row(e, &cut, out)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} entries: {llm_calls} LLM calls ({tokens_in} input / {tokens_out} output tokens), {tool_calls} tool calls",
        entries.len()
    )?;
    if let Some(cost) = cost {
        writeln!(out, "cost: {cost:.6} (at the prices in relive.toml)")?;
    }
    if let Some(output) = &run.output {
        writeln!(out, "output: {}", cut(output, 400))?;
    }
    if let Some(error) = &run.error {
        writeln!(out, "error: {error}")?;
    }
    Ok(())
}

/// The run's header lines and the table's heading.
fn timeline_header(
    run: &RunRecord,
    entries: &[Entry],
    cut: &dyn Fn(&str, usize) -> String,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "run {}  agent {}  status {}",
        run.id, run.agent, run.status
    )?;
    writeln!(out, "component {}", run.component_digest)?;
    writeln!(
        out,
        "created {} UTC, updated {} UTC",
        timestamp(run.created_at_ms),
        timestamp(run.updated_at_ms)
    )?;
    writeln!(out, "input: {}", cut(&run.input, 200))?;
    if let Some(w) = crate::journal::Waiting::of_run(entries) {
        writeln!(out, "waiting for: {w}")?;
        if let Some(details) = &w.details {
            writeln!(out, "details: {}", cut(details, 400))?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:>5}  {:<9}  {:<16}  {:<9}  {:>8}  {:>13}  request → response",
        "seq", "kind", "name", "state", "duration", "tokens in/out"
    )
}

/// One entry of the timeline, with its failed attempts under it.
fn timeline_row(
    e: &Entry,
    cut: &dyn Fn(&str, usize) -> String,
    out: &mut dyn Write,
) -> io::Result<()> {
    let took = e
        .finished_at_ms
        .map(|f| duration(Duration::from_millis((f - e.started_at_ms).max(0) as u64)))
        .unwrap_or_else(|| "-".into());
    let tokens = e
        .usage
        .map(|u| format!("{}/{}", u.input_tokens, u.output_tokens))
        .unwrap_or_default();
    let state = match (&e.state, &e.resolution) {
        (EntryState::Started, Some(_)) => "resolved",
        (EntryState::Started, None) => "started",
        (EntryState::Completed, _) => "completed",
    };
    writeln!(
        out,
        "{:>5}  {:<9}  {:<16}  {:<9}  {:>8}  {:>13}  {} → {}",
        e.seq,
        e.kind.as_str(),
        shorten(&e.name, 16),
        state,
        took,
        tokens,
        cut(&e.request, 60),
        e.response
            .as_deref()
            .map(|r| cut(r, 80))
            .unwrap_or_else(|| "…".into())
    )?;
    for a in &e.attempts {
        writeln!(
            out,
            "{:>5}  ↻ attempt {} failed: {} (retried after {} ms)",
            "",
            a.attempt,
            cut(&a.error, 120),
            a.retry_in_ms
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_short_and_readable() {
        let llm = r#"{"Ok":{"message":{"role":"assistant","content":"","tool_calls":[{"id":"c","name":"search","arguments":"{\"q\":1}"}]}}}"#;
        assert_eq!(summarize(EntryKind::Llm, llm), r#"calls search {"q":1}"#);
        assert_eq!(
            summarize(EntryKind::Tool, r#"{"Ok":"{\"a\":1}"}"#),
            r#"{"a":1}"#
        );
        assert_eq!(
            summarize(
                EntryKind::Tool,
                r#"{"Err":{"kind":"failed","message":"boom"}}"#
            ),
            "error (failed): boom"
        );
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(timestamp(1_795_000_000_000), "2026-11-18 11:06:40");
    }
}
