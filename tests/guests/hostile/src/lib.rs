//! `hostile`: a guest that misbehaves on purpose, one way per input, so the
//! sandbox tests can show that each attack gets a clear error while the
//! host and other runs carry on.
//!
//! | input | attack |
//! |---|---|
//! | `loop` | an infinite loop (runs out of fuel) |
//! | `memory` | grows memory until refused |
//! | `recurse` | unbounded recursion |
//! | `big-arg` | a 100 MB tool argument |
//! | `unknown-tool` | calls a tool that does not exist |
//! | `ungranted-tool` | calls a tool that exists but is not granted |
//! | `unlisted-model` | asks for a model it was not given |
//! | `path-dotdot` | reads and writes `../../outside/…` through the `files` tool |
//! | `path-absolute PATH` | reads PATH and writes next to it through `files` |
//! | `path-symlink` | writes a file, has the command tool `plant` put links to `../../outside` in its workspace, then reads, writes and lists through them |
//! | `http-get URL` | fetches URL with the `fetch` tool (`http_get`) and returns the result |
//! | `flood-log MIB COUNT` | logs COUNT messages of MIB MiB each, each one different |
//! | `flood-random MIB COUNT` | reads MIB MiB of journaled randomness COUNT times |
//! | `ok` | one clock read and a tool call, then success |
//!
//! The multi-step attacks succeed (return `Ok`) only if one of their calls
//! got through; when every call is refused they fail with all the refusals,
//! one after the other, separated by ` | `.

use relive_sdk::{llm, tools};
use std::hint::black_box;

pub struct Hostile;

impl relive_sdk::Agent for Hostile {
    fn run(input: String) -> Result<String, String> {
        let input = input.trim();
        let (attack, argument) = input.split_once(' ').unwrap_or((input, ""));
        match attack {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 16 << 20];
                    chunk[0] = 1;
                    hoard.push(black_box(chunk));
                }
            }
            "recurse" => Ok(format!("{}", recurse(black_box(1)))),
            "big-arg" => {
                let big = format!("\"{}\"", "x".repeat(100 << 20));
                tools::call_json("echo", &big).map_err(|e| e.describe())
            }
            "unknown-tool" => tools::call_json("no-such-tool", "{}").map_err(|e| e.describe()),
            "ungranted-tool" => tools::call_json("secret", "{}").map_err(|e| e.describe()),
            "unlisted-model" => {
                let request =
                    llm::ChatRequest::new(vec![llm::Message::user("hi")]).model("gpt-unlisted");
                llm::chat(&request)
                    .map(|r| r.message.content)
                    .map_err(|e| e.describe())
            }
            "path-dotdot" => all_refused(&[
                (
                    "files",
                    r#"{"op":"read","path":"../../outside/secret.txt"}"#.into(),
                ),
                (
                    "files",
                    r#"{"op":"write","path":"../../outside/evil.txt","content":"pwned"}"#.into(),
                ),
            ]),
            "path-absolute" => all_refused(&[
                (
                    "files",
                    format!(r#"{{"op":"read","path":{}}}"#, json_string(argument)),
                ),
                (
                    "files",
                    format!(
                        r#"{{"op":"write","path":{},"content":"pwned"}}"#,
                        json_string(&format!("{argument}.evil"))
                    ),
                ),
            ]),
            "path-symlink" => {
                // Legitimate use first: this creates the run's workspace.
                tools::call_json(
                    "files",
                    r#"{"op":"write","path":"note.txt","content":"mine"}"#,
                )
                .map_err(|e| e.describe())?;
                tools::call_json("plant", "{}").map_err(|e| e.describe())?;
                all_refused(&[
                    ("files", r#"{"op":"read","path":"link/secret.txt"}"#.into()),
                    ("files", r#"{"op":"read","path":"secret-link"}"#.into()),
                    (
                        "files",
                        r#"{"op":"write","path":"link/evil.txt","content":"pwned"}"#.into(),
                    ),
                    (
                        "files",
                        r#"{"op":"write","path":"secret-link","content":"pwned"}"#.into(),
                    ),
                    ("files", r#"{"op":"list","path":"link"}"#.into()),
                ])
            }
            "http-get" => {
                tools::call_json("fetch", &format!(r#"{{"url":{}}}"#, json_string(argument)))
                    .map_err(|e| e.describe())
            }
            "flood-log" | "flood-random" => {
                let mut args = argument.split_whitespace().map(|a| a.parse::<usize>());
                let (Some(Ok(mib)), Some(Ok(count))) = (args.next(), args.next()) else {
                    return Err(format!("hostile: expected `{attack} MIB COUNT`"));
                };
                let body = "x".repeat(mib << 20);
                for i in 0..count {
                    if attack == "flood-log" {
                        relive_sdk::log::info(&format!("{i} {body}"));
                    } else {
                        black_box(relive_sdk::random::bytes(mib << 20));
                    }
                }
                Ok(format!("flooded {count}"))
            }
            "ok" => {
                let now = std::time::SystemTime::now();
                let echoed = tools::call_json("echo", "{\"ok\":true}").map_err(|e| e.describe())?;
                Ok(format!("ok {} {echoed}", now.elapsed().is_ok()))
            }
            other => Err(format!("hostile: unknown attack {other:?}")),
        }
    }
}

/// Makes every call; `Ok` with what got through if any call succeeded,
/// else `Err` with every refusal.
fn all_refused(calls: &[(&str, String)]) -> Result<String, String> {
    let mut refusals = Vec::new();
    for (tool, arguments) in calls {
        match tools::call_json(tool, arguments) {
            Ok(result) => return Ok(format!("escaped: {tool} {arguments} -> {result}")),
            Err(e) => refusals.push(e.describe()),
        }
    }
    Err(refusals.join(" | "))
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + recurse(black_box(n + 1))
    }
}

relive_sdk::export_agent!(Hostile);
