//! Operator-declared command tools: a program that reads the JSON arguments
//! on stdin and writes a JSON result on stdout.
//!
//! The program runs with the directory of relive.toml as its working
//! directory and the host's environment plus `RELIVE_RUN_ID`, `RELIVE_SEQ`,
//! `RELIVE_IDEMPOTENCY_KEY` and `RELIVE_TOOL`, so a tool can make itself
//! idempotent. A non-zero exit status, output that is not JSON, or a run
//! past the timeout is a tool failure the agent sees; the program is killed
//! on timeout.

use super::{Tool, ToolContext, ToolError};
use crate::config::{DEFAULT_TOOL_TIMEOUT_SECS, ToolConfig};
use crate::limits::DEFAULT_MAX_CALL_BYTES;
use crate::llm::{BoxFuture, ToolSpec};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tool backed by a program.
pub struct CommandTool {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    workdir: PathBuf,
    description: String,
    schema: String,
    idempotent: bool,
    timeout: Duration,
}

impl CommandTool {
    /// A tool from its validated `[tools.NAME]` table; relative paths
    /// resolve against `base_dir` (the directory of relive.toml).
    pub fn new(name: &str, config: &ToolConfig, base_dir: &Path) -> CommandTool {
        let command = config.command.as_deref().unwrap_or_default();
        let program = PathBuf::from(command.first().map(String::as_str).unwrap_or_default());
        // A bare program name ("python3") is looked up on PATH; a path with
        // a directory part is relative to the config file.
        let program = if program.components().count() > 1 && program.is_relative() {
            base_dir.join(program)
        } else {
            program
        };
        let schema = match &config.schema {
            Some(value) => serde_json::to_string(value).expect("toml values serialise"),
            None => r#"{"type":"object"}"#.to_string(),
        };
        CommandTool {
            name: name.to_string(),
            program,
            args: command.iter().skip(1).cloned().collect(),
            workdir: base_dir.to_path_buf(),
            description: config.description.clone(),
            schema,
            // Validation requires the key; were it absent, the safe answer.
            idempotent: config.idempotent.unwrap_or(false),
            timeout: Duration::from_secs(config.timeout_secs.unwrap_or(DEFAULT_TOOL_TIMEOUT_SECS)),
        }
    }

    async fn run(&self, ctx: &ToolContext, arguments: &str) -> Result<String, ToolError> {
        let failed = |message: String| ToolError::Failed(format!("tool `{}` {message}", self.name));
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.workdir)
            .env("RELIVE_RUN_ID", &ctx.run_id)
            .env("RELIVE_SEQ", ctx.seq.to_string())
            .env("RELIVE_IDEMPOTENCY_KEY", &ctx.idempotency_key)
            .env("RELIVE_TOOL", &self.name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                failed(format!(
                    "could not start {}: {e} (check `command` under [tools.{}])",
                    self.program.display(),
                    self.name
                ))
            })?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let input = arguments.as_bytes().to_vec();
        let work = async {
            let write = async {
                // A tool may exit without reading its input; that is fine.
                let _ = stdin.write_all(&input).await;
                drop(stdin);
            };
            let mut out = Vec::new();
            let mut err = Vec::new();
            let mut limited_out = (&mut stdout).take(DEFAULT_MAX_CALL_BYTES + 1);
            let mut limited_err = (&mut stderr).take(64 * 1024);
            let read_out = limited_out.read_to_end(&mut out);
            let read_err = limited_err.read_to_end(&mut err);
            let (_, r1, r2) = tokio::join!(write, read_out, read_err);
            r1.and(r2)?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out, err))
        };
        let (status, out, err) = match tokio::time::timeout(self.timeout, work).await {
            Err(_) => {
                return Err(failed(format!(
                    "did not finish within {} s (raise `timeout_secs` under [tools.{}])",
                    self.timeout.as_secs(),
                    self.name
                )));
            }
            Ok(Err(e)) => return Err(failed(format!("could not be run: {e}"))),
            Ok(Ok(done)) => done,
        };
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err);
            return Err(failed(format!(
                "exited with {status}: {}",
                crate::replay::shorten(stderr.trim(), 2000)
            )));
        }
        if out.len() > DEFAULT_MAX_CALL_BYTES as usize {
            return Err(failed(format!(
                "wrote more than {DEFAULT_MAX_CALL_BYTES} bytes on stdout"
            )));
        }
        let text =
            String::from_utf8(out).map_err(|_| failed("wrote output that is not UTF-8".into()))?;
        let text = text.trim();
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
            failed(format!(
                "wrote output that is not JSON ({e}): {}",
                crate::replay::shorten(text, 200)
            ))
        })?;
        Ok(text.to_string())
    }
}

impl Tool for CommandTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.schema.clone(),
        }
    }

    fn idempotent(&self) -> bool {
        self.idempotent
    }

    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(ctx, arguments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(script: &str, timeout: u64) -> CommandTool {
        let config = ToolConfig {
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            description: "test".into(),
            idempotent: Some(true),
            timeout_secs: Some(timeout),
            ..ToolConfig::default()
        };
        CommandTool::new("t", &config, Path::new("."))
    }

    fn ctx() -> ToolContext {
        ToolContext {
            run_id: "r1".into(),
            seq: 7,
            idempotency_key: "relive-r1-7".into(),
        }
    }

    #[tokio::test]
    async fn passes_arguments_and_environment() {
        let t = tool(
            r#"read line; printf '{"got":%s,"key":"%s","seq":%s}' "$line" "$RELIVE_IDEMPOTENCY_KEY" "$RELIVE_SEQ""#,
            10,
        );
        let out = t.run(&ctx(), "{\"a\":1}\n").await.unwrap();
        assert_eq!(out, r#"{"got":{"a":1},"key":"relive-r1-7","seq":7}"#);
    }

    #[tokio::test]
    async fn failures_are_explained() {
        let err = tool("echo boom >&2; exit 3", 10)
            .run(&ctx(), "{}")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        let err = tool("echo not json", 10)
            .run(&ctx(), "{}")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
        let err = tool("sleep 5", 1).run(&ctx(), "{}").await.unwrap_err();
        assert!(err.to_string().contains("timeout_secs"), "{err}");
    }
}
