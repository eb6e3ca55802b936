//! `dispatcher`: a cheap front agent that hands a request to an expensive
//! specialist — the researcher — as a child run (a hand-off).
//!
//! The dispatcher's model sees one tool, `handoff_researcher`; when it calls
//! it, the researcher runs as a child run of its own (its own journal,
//! sandbox, limits and grants) and its answer is the dispatcher's answer.
//! Kill the host while the researcher searches and resume the dispatcher:
//! the same child is found again and goes on where it stopped.

use relive_sdk::{AgentLoop, log};

const SYSTEM_PROMPT: &str = "You route requests. For a research question, hand it to \
the researcher with the question as its input; answer small talk yourself.";

pub struct Dispatcher;

impl relive_sdk::Agent for Dispatcher {
    fn run(input: String) -> Result<String, String> {
        let request = input.trim();
        if request.is_empty() {
            return Err("dispatcher: the input is empty; pass a request".into());
        }
        log::info(&format!("dispatching: {request}"));
        AgentLoop::new(SYSTEM_PROMPT)
            .tools(Vec::new())
            .handoff(
                "researcher",
                "Hands a research question to the researcher, whose answer is final",
            )
            .max_steps(3)
            .run(request)
    }
}

relive_sdk::export_agent!(Dispatcher);
