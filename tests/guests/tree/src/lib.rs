//! `tree`: starts child runs as its input says, for the multi-agent tests.
//!
//! - `call AGENT INPUT...`: runs AGENT on INPUT as a child and answers
//!   `called: OUTPUT` (or `error: ...`, an error the parent handled);
//! - `fanout AGENT N [PREFIX]`: spawns N children of AGENT on inputs
//!   `PREFIX0`..`PREFIX{N-1}` (PREFIX defaults to empty), joins them, and
//!   answers one line per child, `i: OUTPUT` or `i: error: ...`;
//! - `seq AGENT N [PREFIX]`: calls AGENT N times, one after the other,
//!   on the same inputs as `fanout`, and answers like it;
//! - `nest DEPTH AGENT INPUT`: a chain of `tree` runs DEPTH deep whose last
//!   one calls AGENT on INPUT;
//! - `batch N`: calls the tool `nap` N times in one batch, call `i` with
//!   `{"i": i, "ms": 60 * (N - i)}` (the first asks for the longest nap), and
//!   answers the results in order, one per line;
//! - `ask N`: sends N chat requests in one batch and answers the models'
//!   replies in order, one per line;
//! - `echo TEXT`: answers TEXT (a quick child);
//! - `fail TEXT`: fails with TEXT.
//!
//! Between its calls it reads the clock and logs, so a replay has local
//! entries to match as well.

use relive_sdk::{agents, log};

pub struct Tree;

impl relive_sdk::Agent for Tree {
    fn run(input: String) -> Result<String, String> {
        let words: Vec<&str> = input.split_whitespace().collect();
        let _ = std::time::SystemTime::now();
        match words.as_slice() {
            ["call", agent, rest @ ..] => {
                log::info(&format!("calling {agent}"));
                Ok(match agents::call(agent, &rest.join(" ")) {
                    Ok(output) => format!("called: {output}"),
                    Err(e) => format!("error: {}", e.describe()),
                })
            }
            ["fanout", agent, n, rest @ ..] => {
                let n: usize = n.parse().map_err(|_| format!("tree: bad count {n:?}"))?;
                let prefix = rest.join(" ");
                let mut children = Vec::new();
                for i in 0..n {
                    let child = agents::spawn(agent, &format!("{prefix}{i}"))
                        .map_err(|e| format!("tree: spawn {i}: {}", e.describe()))?;
                    children.push(child);
                }
                log::info(&format!("spawned {n} children"));
                let lines: Vec<String> = agents::join(&children)
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| match r {
                        Ok(output) => format!("{i}: {output}"),
                        Err(e) => format!("{i}: error: {}", e.describe()),
                    })
                    .collect();
                Ok(lines.join("\n"))
            }
            ["seq", agent, n, rest @ ..] => {
                let n: usize = n.parse().map_err(|_| format!("tree: bad count {n:?}"))?;
                let prefix = rest.join(" ");
                let lines: Vec<String> = (0..n)
                    .map(|i| match agents::call(agent, &format!("{prefix}{i}")) {
                        Ok(output) => format!("{i}: {output}"),
                        Err(e) => format!("{i}: error: {}", e.describe()),
                    })
                    .collect();
                Ok(lines.join("\n"))
            }
            ["nest", depth, agent, rest @ ..] => {
                let depth: u32 = depth
                    .parse()
                    .map_err(|_| format!("tree: bad depth {depth:?}"))?;
                let input = if depth <= 1 {
                    return agents::call(agent, &rest.join(" ")).map_err(|e| e.describe());
                } else {
                    format!("nest {} {agent} {}", depth - 1, rest.join(" "))
                };
                agents::call("tree", &input).map_err(|e| e.describe())
            }
            ["batch", n] => {
                let n: usize = n.parse().map_err(|_| format!("tree: bad count {n:?}"))?;
                let calls: Vec<(String, String)> = (0..n)
                    .map(|i| {
                        (
                            "nap".to_string(),
                            format!("{{\"i\":{i},\"ms\":{}}}", 60 * (n - i)),
                        )
                    })
                    .collect();
                let results: Vec<String> = relive_sdk::tools::call_batch(&calls)
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| format!("error: {}", e.describe())))
                    .collect();
                Ok(results.join("\n"))
            }
            ["ask", n] => {
                let n: usize = n.parse().map_err(|_| format!("tree: bad count {n:?}"))?;
                let requests: Vec<relive_sdk::llm::ChatRequest> = (0..n)
                    .map(|i| {
                        relive_sdk::llm::ChatRequest::new(vec![relive_sdk::llm::Message::user(
                            format!("question {i}"),
                        )])
                    })
                    .collect();
                let answers: Vec<String> = relive_sdk::llm::chat_batch(&requests)
                    .into_iter()
                    .map(|r| match r {
                        Ok(response) => response.message.content,
                        Err(e) => format!("error: {}", e.describe()),
                    })
                    .collect();
                Ok(answers.join("\n"))
            }
            ["echo", rest @ ..] => Ok(rest.join(" ")),
            ["fail", rest @ ..] => Err(rest.join(" ")),
            _ => Err(format!("tree: unknown input {input:?}")),
        }
    }
}

relive_sdk::export_agent!(Tree);
