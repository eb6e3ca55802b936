//! `approver`: drafts a message with the LLM, asks a person to approve it,
//! and sends it (through the `send` tool, which writes to an outbox) only
//! if approved. While it waits for the decision the run is suspended: no
//! process, no memory; `relive approve` / `relive reject` answer, and
//! `relive resume` carries on.

use relive_sdk::approval::{self, Decision};
use relive_sdk::{llm, log, tools};

/// The agent: the component's `run` export.
pub struct Approver;

impl relive_sdk::Agent for Approver {
    fn run(input: String) -> Result<String, String> {
        let task = input.trim();
        if task.is_empty() {
            return Err("approver: the input is empty; say what message to send".into());
        }
        let request = llm::ChatRequest::new(vec![
            llm::Message::system(
                "Draft a short, polite message for the task. Reply with the message only.",
            ),
            llm::Message::user(task),
        ]);
        let draft = llm::chat(&request)
            .map_err(|e| e.describe())?
            .message
            .content;
        log::info("draft ready; asking for approval");
        match approval::request("send-message", &draft) {
            Decision::Approved(edited) => {
                let text = edited.unwrap_or(draft);
                let args = serde_json::json!({ "message": text });
                tools::call_json("send", &args.to_string()).map_err(|e| e.describe())?;
                Ok(format!("sent: {text}"))
            }
            Decision::Rejected(reason) => Ok(format!("not sent: {reason}")),
        }
    }
}

relive_sdk::export_agent!(Approver);
