//! `steps`: the benchmark workload (DESIGN §9), and the agent that compares
//! relive with other durable-execution systems from the command line
//! (`bench/steps.toml`).
//!
//! Input: `{"steps": N, "kind": "tool" | "clock" | "random" | "llm" | "signal"}`.
//!
//! - `"tool"`: N sequential calls of the tool `step`, each one durable step
//!   whose result (about 200 bytes) the agent folds into its digest. With
//!   `bench/steps.toml`, `step` is the built-in `files` tool (in-process, no
//!   process spawn): call 1 writes [`PAYLOAD`] to `step.txt` in the run's
//!   workspace and calls 2..=N read it back. An optional `"args"` (any JSON
//!   value) replaces this: every call then sends exactly `args`, for a `step`
//!   tool of another kind; an optional `"tool"` calls that tool instead of
//!   `step` (an MCP server's tool, say: `every__echo`).
//! - `"clock"`: N wall-clock reads (`SystemTime::now()`), each journaled.
//! - `"random"`: N random `u64` reads, each journaled.
//! - `"llm"`: N sequential LLM calls (one user message each), for the
//!   service benchmark, whose model is a test server on 127.0.0.1.
//! - `"signal"`: waits for the signal `go` (the run is suspended meanwhile),
//!   then makes N tool calls as `"tool"` does: the service benchmark's
//!   suspended runs.
//!
//! Output: `{"steps":N,"kind":"...","calls":N,"digest":"<16 hex digits>"}`,
//! where the digest (64-bit FNV-1a) covers every result. It is a pure
//! function of the host's answers, so a run resumed after a crash prints
//! what an uninterrupted run with the same answers prints.

use relive_sdk::{llm, random, signals, tools};
use std::time::{SystemTime, UNIX_EPOCH};

/// The tool called once per step of kind `"tool"`.
pub const TOOL: &str = "step";

/// The file the `files` tool writes at step 1 and reads back afterwards.
pub const FILE: &str = "step.txt";

/// Written at step 1 and read at every later step: 150 bytes, so that a
/// read's result, `{"path":"step.txt","size":150,"content":"..."}`, is
/// about 200 bytes.
pub const PAYLOAD: &str = "relive benchmark step payload: 150 bytes of text that every later step reads back, so each durable step returns a result of roughly two hundred bytes.";

/// The signal a run of kind `"signal"` waits for.
pub const SIGNAL: &str = "go";

/// Most steps one run may ask for.
pub const MAX_STEPS: u64 = 10_000_000;

/// What each step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tool,
    Clock,
    Random,
    Llm,
    Signal,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Clock => "clock",
            Kind::Random => "random",
            Kind::Llm => "llm",
            Kind::Signal => "signal",
        }
    }
}

/// The parsed input.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub steps: u64,
    pub kind: Kind,
    /// For `"tool"`: the arguments of every call, instead of the `files`
    /// write-then-read sequence.
    pub args: Option<String>,
    /// For `"tool"`: the tool called, instead of [`TOOL`].
    pub tool: Option<String>,
}

/// Parses `{"steps": N, "kind": "..."[, "args": ...]}`.
pub fn parse_input(input: &str) -> Result<Input, String> {
    const USAGE: &str = r#"the input must be {"steps": N, "kind": "tool" | "clock" | "random" | "llm" | "signal"}, e.g. {"steps":1000,"kind":"tool"}"#;
    let value: serde_json::Value =
        serde_json::from_str(input).map_err(|e| format!("steps: {USAGE}: {e}"))?;
    let object = value.as_object().ok_or_else(|| format!("steps: {USAGE}"))?;
    if let Some(key) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "steps" | "kind" | "args" | "tool"))
    {
        return Err(format!("steps: unknown key `{key}`; {USAGE}"));
    }
    let steps = object
        .get("steps")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("steps: `steps` is missing or not a whole number; {USAGE}"))?;
    if steps > MAX_STEPS {
        return Err(format!(
            "steps: {steps} steps is more than the maximum, {MAX_STEPS}"
        ));
    }
    let kind = match object.get("kind").and_then(serde_json::Value::as_str) {
        Some("tool") => Kind::Tool,
        Some("clock") => Kind::Clock,
        Some("random") => Kind::Random,
        Some("llm") => Kind::Llm,
        Some("signal") => Kind::Signal,
        _ => return Err(format!("steps: `kind` is missing or unknown; {USAGE}")),
    };
    let args = object.get("args").map(serde_json::Value::to_string);
    if args.is_some() && !matches!(kind, Kind::Tool | Kind::Signal) {
        return Err("steps: `args` goes with \"kind\": \"tool\" or \"signal\" only".into());
    }
    let tool = object
        .get("tool")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    Ok(Input {
        steps,
        kind,
        args,
        tool,
    })
}

/// The arguments of tool call `step` (from 1) when the input has no `args`.
pub fn files_arguments(step: u64) -> String {
    if step == 1 {
        serde_json::json!({ "op": "write", "path": FILE, "content": PAYLOAD }).to_string()
    } else {
        serde_json::json!({ "op": "read", "path": FILE }).to_string()
    }
}

/// A running 64-bit FNV-1a digest.
#[derive(Clone, Debug)]
pub struct Digest(u64);

impl Digest {
    pub fn new() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Folds in a text, preceded by its length.
    pub fn text(&mut self, text: &str) {
        self.bytes(&(text.len() as u64).to_le_bytes());
        self.bytes(text.as_bytes());
    }

    pub fn value(&self) -> u64 {
        self.0
    }
}

impl Default for Digest {
    fn default() -> Digest {
        Digest::new()
    }
}

/// The agent's output.
pub fn output(input: &Input, digest: &Digest) -> String {
    format!(
        r#"{{"steps":{},"kind":"{}","calls":{},"digest":"{:016x}"}}"#,
        input.steps,
        input.kind.as_str(),
        input.steps,
        digest.value()
    )
}

/// Runs the steps against the host.
fn run_steps(input: &Input) -> Result<Digest, String> {
    let mut digest = Digest::new();
    if input.kind == Kind::Signal {
        let data = signals::wait(SIGNAL, None).unwrap_or_default();
        digest.text(&data);
    }
    for step in 1..=input.steps {
        match input.kind {
            Kind::Tool | Kind::Signal => {
                let arguments = match &input.args {
                    Some(args) => args.clone(),
                    None => files_arguments(step),
                };
                let tool = input.tool.as_deref().unwrap_or(TOOL);
                let result = tools::call_json(tool, &arguments).map_err(|e| {
                    format!(
                        "steps: step {step}/{}: tool `{tool}` {}",
                        input.steps,
                        e.describe()
                    )
                })?;
                digest.text(&result);
            }
            Kind::Clock => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_err(|e| format!("steps: step {step}: the clock is before 1970: {e}"))?;
                digest.bytes(&now.as_nanos().to_le_bytes());
            }
            Kind::Random => digest.bytes(&random::u64().to_le_bytes()),
            Kind::Llm => {
                let request = llm::ChatRequest::new(vec![llm::Message::user(format!(
                    "step {step} of {}",
                    input.steps
                ))]);
                let response = llm::chat(&request).map_err(|e| {
                    format!("steps: step {step}/{}: llm: {}", input.steps, e.describe())
                })?;
                digest.text(&response.message.content);
            }
        }
    }
    Ok(digest)
}

/// The agent: the component's `run` export.
pub struct Steps;

impl relive_sdk::Agent for Steps {
    fn run(input: String) -> Result<String, String> {
        let input = parse_input(&input)?;
        let digest = run_steps(&input)?;
        Ok(output(&input, &digest))
    }
}

relive_sdk::export_agent!(Steps);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_checked() {
        let input = parse_input(r#"{"steps":1000,"kind":"tool"}"#).unwrap();
        assert_eq!(input.steps, 1000);
        assert_eq!(input.kind, Kind::Tool);
        assert_eq!(input.args, None);
        let input = parse_input(r#"{"steps":3,"kind":"tool","args":{"x":1}}"#).unwrap();
        assert_eq!(input.args.as_deref(), Some(r#"{"x":1}"#));
        assert_eq!(
            parse_input(r#"{"steps":2,"kind":"llm"}"#).unwrap().kind,
            Kind::Llm
        );
        let input = parse_input(r#"{"steps":0,"kind":"signal"}"#).unwrap();
        assert_eq!((input.steps, input.kind), (0, Kind::Signal));
        for bad in [
            "",
            "12",
            r#"{"steps":-1,"kind":"tool"}"#,
            r#"{"steps":1,"kind":"sleep"}"#,
            r#"{"steps":1}"#,
            r#"{"steps":1,"kind":"clock","args":{}}"#,
            r#"{"steps":1,"kind":"llm","args":{}}"#,
            r#"{"steps":1,"kind":"clock","extra":1}"#,
        ] {
            assert!(parse_input(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn files_arguments_write_once_then_read() {
        assert!(files_arguments(1).contains(r#""op":"write""#));
        assert_eq!(files_arguments(2), r#"{"op":"read","path":"step.txt"}"#);
        assert_eq!(PAYLOAD.len(), 150);
    }

    #[test]
    fn output_is_short_json() {
        let input = parse_input(r#"{"steps":2,"kind":"clock"}"#).unwrap();
        let out = output(&input, &Digest::new());
        assert_eq!(
            out,
            r#"{"steps":2,"kind":"clock","calls":2,"digest":"cbf29ce484222325"}"#
        );
        let _: serde_json::Value = serde_json::from_str(&out).unwrap();
    }
}
