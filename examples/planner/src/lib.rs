//! `planner`: plan, then execute — the model writes a plan (a JSON list of
//! questions), one researcher child run per item runs in parallel, and the
//! planner puts their answers together.
//!
//! The children are spawned together and joined: while they work the
//! planner is suspended (no instance held) and it is woken when they end.
//! A child that fails is reported in the answer, not fatal.

use relive_sdk::llm::{self, ChatRequest, Message};
use relive_sdk::{agents, log};

const SYSTEM_PROMPT: &str = "Split the user's topic into at most five research \
questions. Answer with a JSON list of strings and nothing else.";

/// Plans this many questions at most.
const MAX_ITEMS: usize = 5;

pub struct Planner;

impl relive_sdk::Agent for Planner {
    fn run(input: String) -> Result<String, String> {
        let topic = input.trim();
        if topic.is_empty() {
            return Err("planner: the input is empty; pass a topic".into());
        }
        let request = ChatRequest::new(vec![Message::system(SYSTEM_PROMPT), Message::user(topic)]);
        let plan = llm::chat(&request).map_err(|e| format!("planner: {}", e.describe()))?;
        let items: Vec<String> = serde_json::from_str(&plan.message.content).map_err(|e| {
            format!(
                "planner: the plan is not a JSON list of questions ({e}): {}",
                plan.message.content
            )
        })?;
        let items: Vec<String> = items.into_iter().take(MAX_ITEMS).collect();
        log::info(&format!("plan: {} questions", items.len()));
        let children = items
            .iter()
            .map(|q| agents::spawn("researcher", q))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("planner: {}", e.describe()))?;
        let answers = agents::join(&children);
        let lines: Vec<String> = items
            .iter()
            .zip(answers)
            .enumerate()
            .map(|(i, (question, answer))| match answer {
                Ok(text) => format!("{}. {question}\n   {text}", i + 1),
                Err(e) => format!("{}. {question}\n   (no answer: {})", i + 1, e.describe()),
            })
            .collect();
        Ok(format!("{topic}\n\n{}", lines.join("\n")))
    }
}

relive_sdk::export_agent!(Planner);
