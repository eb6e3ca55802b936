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
//! | `ok` | one clock read and a tool call, then success |

use relive_sdk::{llm, tools};
use std::hint::black_box;

pub struct Hostile;

impl relive_sdk::Agent for Hostile {
    fn run(input: String) -> Result<String, String> {
        match input.trim() {
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
            "ok" => {
                let now = std::time::SystemTime::now();
                let echoed = tools::call_json("echo", "{\"ok\":true}").map_err(|e| e.describe())?;
                Ok(format!("ok {} {echoed}", now.elapsed().is_ok()))
            }
            other => Err(format!("hostile: unknown attack {other:?}")),
        }
    }
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + recurse(black_box(n + 1))
    }
}

relive_sdk::export_agent!(Hostile);
