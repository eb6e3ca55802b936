//! `researcher`: a small research agent built on [`relive_sdk::AgentLoop`].
//!
//! It answers a question by searching the operator's research notes with the
//! `search` tool (see `tools/search.sh`) and summarising what it found. With
//! the scripted model of `relive.toml` the conversation is fixed (two
//! searches, then an answer), which makes it a deterministic demo of
//! crash-resume: kill the host between the searches and resume, and neither
//! the model nor the first search runs again.

use relive_sdk::{AgentLoop, log};

/// How the model is asked to work.
const SYSTEM_PROMPT: &str = "You are a careful research assistant. Answer the user's \
question using the research notes: call the `search` tool with a short query, as \
often as useful, then answer in a few sentences and cite the notes you used. Say \
so when the notes do not answer the question.";

/// Model calls allowed per run: enough for a few searches and the answer.
const MAX_STEPS: u32 = 6;

/// The agent: the component's `run` export.
pub struct Researcher;

impl relive_sdk::Agent for Researcher {
    fn run(input: String) -> Result<String, String> {
        let question = input.trim();
        if question.is_empty() {
            return Err("researcher: the input is empty; pass a question to research".into());
        }
        log::info(&format!("researching: {question}"));
        // No `.model(..)`: the agent's default model, chosen by the operator.
        AgentLoop::new(SYSTEM_PROMPT)
            .max_steps(MAX_STEPS)
            .run(question)
    }
}

relive_sdk::export_agent!(Researcher);
