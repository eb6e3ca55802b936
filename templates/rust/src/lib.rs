//! {{name}}: a relive agent in Rust.
//!
//! `run` is the agent: the host calls it with the run's input. Everything it
//! does across the sandbox wall (the model, tools, clocks, randomness, logs)
//! is journaled, so a crashed run resumes where it stopped.

use relive_sdk::{AgentLoop, log};

struct Agent;

impl relive_sdk::Agent for Agent {
    fn run(input: String) -> Result<String, String> {
        log::info(&format!("received: {input}"));
        AgentLoop::new("You are a helpful assistant.")
            .max_steps(5)
            .run(&input)
    }
}

relive_sdk::export_agent!(Agent);
