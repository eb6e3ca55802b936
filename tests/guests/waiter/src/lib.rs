//! `waiter`: waits durably, as its input says, for the suspension tests.
//!
//! - `sleep MS`: sleeps MS milliseconds, then answers `slept`;
//! - it prints one line on stdout first, which the host captures;
//! - `signal NAME [TIMEOUT_MS]`: waits for the signal NAME and answers
//!   `got PAYLOAD`, or `timed out`;
//! - `nap MS NAME`: sleeps MS milliseconds the ordinary way
//!   (`std::thread::sleep`, a `wasi:io/poll` wait the host journals), then
//!   waits for the signal NAME and answers `napped MS, got PAYLOAD`;
//! - `approve ACTION`: asks a person to approve ACTION and answers
//!   `approved` or `rejected: REASON`;
//! - `files NAME`: writes `note.txt` through the `files` tool, waits for
//!   the signal NAME, reads `note.txt` back and answers with the tool's
//!   result (or fails with the tool's error).

use relive_sdk::{signals, timers, tools};
use std::time::Duration;

pub struct Waiter;

impl relive_sdk::Agent for Waiter {
    fn run(input: String) -> Result<String, String> {
        // Captured by the host; shown once, not again when the run replays.
        println!("waiter starts: {input}");
        let words: Vec<&str> = input.split_whitespace().collect();
        match words.as_slice() {
            ["sleep", ms] => {
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("waiter: bad duration {ms:?}"))?;
                timers::sleep(Duration::from_millis(ms));
                Ok("slept".into())
            }
            ["signal", name, rest @ ..] => {
                let timeout = match rest {
                    [ms] => Some(Duration::from_millis(
                        ms.parse()
                            .map_err(|_| format!("waiter: bad timeout {ms:?}"))?,
                    )),
                    _ => None,
                };
                Ok(match signals::wait(name, timeout) {
                    Some(payload) => format!("got {payload}"),
                    None => "timed out".into(),
                })
            }
            ["nap", ms, name] => {
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("waiter: bad duration {ms:?}"))?;
                let begun = std::time::Instant::now();
                std::thread::sleep(Duration::from_millis(ms));
                let slept = begun.elapsed().as_millis();
                let payload = signals::wait(name, None).unwrap_or_default();
                Ok(format!("napped {slept}, got {payload}"))
            }
            ["approve", action] => Ok(
                match relive_sdk::approval::request(action, &format!("please approve {action}")) {
                    relive_sdk::approval::Decision::Approved(_) => "approved".into(),
                    relive_sdk::approval::Decision::Rejected(reason) => {
                        format!("rejected: {reason}")
                    }
                },
            ),
            ["files", name] => {
                tools::call_json(
                    "files",
                    r#"{"op":"write","path":"note.txt","content":"kept"}"#,
                )
                .map_err(|e| e.describe())?;
                signals::wait(name, None);
                tools::call_json("files", r#"{"op":"read","path":"note.txt"}"#)
                    .map_err(|e| e.describe())
            }
            _ => Err(format!("waiter: unknown input {input:?}")),
        }
    }
}

relive_sdk::export_agent!(Waiter);
