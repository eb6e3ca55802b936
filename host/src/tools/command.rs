//! Operator-declared command tools: a program that reads the JSON arguments
//! on stdin and writes a JSON result on stdout.
//!
//! The program runs with the directory of relive.toml as its working
//! directory and the host's environment plus `RELIVE_RUN_ID`, `RELIVE_SEQ`,
//! `RELIVE_IDEMPOTENCY_KEY` and `RELIVE_TOOL`, so a tool can make itself
//! idempotent. A non-zero exit status, output that is not JSON, output over
//! the run's `max_call_bytes`, or a run past the timeout is a tool failure
//! the agent sees.
//!
//! A call owns every process it starts. The program leads a process group of
//! its own, and when the call is over — the program exited, failed, printed
//! too much or timed out, or the run was dropped in the middle of the call —
//! every process left in that group is killed (SIGKILL). A program that must
//! leave something running has to start it in a session of its own
//! (`setsid`), outside relive's care. stdout and stderr are read together as
//! they come, so neither can stall the program: stdout up to the limit, and
//! all of stderr, of which the last [`STDERR_KEPT_BYTES`] are kept for the
//! error of a failed call.

use super::{Tool, ToolContext, ToolError};
use crate::config::{DEFAULT_TOOL_TIMEOUT_SECS, ToolConfig};
use crate::llm::{BoxFuture, ToolSpec};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The end of a tool's stderr kept for the error of a failed call; the
/// rest is read and dropped.
pub const STDERR_KEPT_BYTES: usize = 64 * 1024;
/// Characters of that end quoted in the error.
const STDERR_QUOTED_CHARS: usize = 2000;

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

/// Why reading a call's output stopped early.
enum Stop {
    Io(std::io::Error),
    /// stdout passed the limit.
    TooLarge,
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
        let mut child = self.command(ctx).spawn().map_err(|e| {
            failed(format!(
                "could not start {}: {e} (check `command` under [tools.{}])",
                self.program.display(),
                self.name
            ))
        })?;
        // Declared after `child`, so dropped before it when the run is
        // dropped mid-call: the group is killed while its leader is not yet
        // reaped, so its id cannot belong to anyone else.
        let group = Group::of(&child);
        let mut stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let input = arguments.as_bytes().to_vec();
        let max = ctx.max_result_bytes;
        let work = async {
            let write = async {
                // A tool may exit without reading its input; that is fine.
                let _ = stdin.write_all(&input).await;
                drop(stdin);
                Ok(())
            };
            let read_out = async {
                let mut out = Vec::new();
                // One byte over the limit tells "at the limit" from "over it".
                (&mut stdout)
                    .take(max as u64 + 1)
                    .read_to_end(&mut out)
                    .await
                    .map_err(Stop::Io)?;
                if out.len() > max {
                    group.kill();
                    return Err(Stop::TooLarge);
                }
                Ok(out)
            };
            let read_err = async { read_tail(&mut stderr).await.map_err(Stop::Io) };
            let wait = async {
                let status = child.wait().await.map_err(Stop::Io)?;
                // The program is done: what it left behind goes too, and
                // lets go of the pipes it inherited.
                group.kill();
                Ok(status)
            };
            tokio::try_join!(write, read_out, read_err, wait)
        };
        let ((), out, (err, err_len), status) = match tokio::time::timeout(self.timeout, work).await
        {
            Err(_) => {
                group.kill();
                return Err(failed(format!(
                    "did not finish within {} s (raise `timeout_secs` under [tools.{}])",
                    self.timeout.as_secs(),
                    self.name
                )));
            }
            Ok(Err(Stop::TooLarge)) => {
                return Err(failed(format!(
                    "wrote a result too large: more than {max} bytes on stdout, over the limit of {max} bytes per host call; raise `max_call_bytes` under [limits] (or [agents.NAME.limits]) in relive.toml, or make the tool print less"
                )));
            }
            Ok(Err(Stop::Io(e))) => return Err(failed(format!("could not be run: {e}"))),
            Ok(Ok(done)) => done,
        };
        if !status.success() {
            return Err(failed(format!(
                "exited with {status}: {}",
                quote_tail(&err, err_len)
            )));
        }
        json_result(out).map_err(failed)
    }

    /// The tool's program, its environment and its pipes, in a process
    /// group of its own.
    fn command(&self, ctx: &ToolContext) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(&self.workdir)
            .env("RELIVE_RUN_ID", &ctx.run_id)
            .env("RELIVE_SEQ", ctx.seq.to_string())
            .env("RELIVE_IDEMPOTENCY_KEY", &ctx.idempotency_key)
            .env("RELIVE_TOOL", &self.name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        command
    }
}

/// The process group a call's program leads; killed once, when the call is
/// over (or when this is dropped).
struct Group {
    id: Option<u32>,
    killed: AtomicBool,
}

impl Group {
    fn of(child: &tokio::process::Child) -> Group {
        Group {
            id: child.id(),
            killed: AtomicBool::new(false),
        }
    }

    /// SIGKILL to every process in the group, the first time only: once
    /// all of them are dead, the id is free for another group to take.
    ///
    /// With the `rustix` crate, as the workspace denies `unsafe_code` (so no
    /// `libc::kill`) and rustix is already in the tree; on other systems than
    /// unix, `kill_on_drop` still kills the program itself.
    fn kill(&self) {
        if self.killed.swap(true, Ordering::SeqCst) {
            return;
        }
        #[cfg(unix)]
        if let Some(pid) = self
            .id
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            // ESRCH (nobody left) is the usual answer after a clean exit.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `pipe` to its end; returns its last [`STDERR_KEPT_BYTES`] and how
/// many bytes it carried.
async fn read_tail(pipe: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(Vec<u8>, usize)> {
    let mut kept = Vec::new();
    let mut total = 0;
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = pipe.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n;
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * STDERR_KEPT_BYTES {
            kept.drain(..kept.len() - STDERR_KEPT_BYTES);
        }
    }
    if kept.len() > STDERR_KEPT_BYTES {
        kept.drain(..kept.len() - STDERR_KEPT_BYTES);
    }
    Ok((kept, total))
}

/// The end of a failed tool's stderr, where its error usually is.
fn quote_tail(kept: &[u8], total: usize) -> String {
    let text = String::from_utf8_lossy(kept);
    let text = text.trim();
    let chars = text.chars().count();
    if chars <= STDERR_QUOTED_CHARS && total == kept.len() {
        return text.to_string();
    }
    let tail: String = text
        .chars()
        .skip(chars.saturating_sub(STDERR_QUOTED_CHARS))
        .collect();
    format!("(the end of {total} bytes of stderr) …{tail}")
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

/// A tool's stdout as its result: UTF-8 JSON, trimmed; else the reason.
fn json_result(out: Vec<u8>) -> Result<String, String> {
    let text = String::from_utf8(out).map_err(|_| "wrote output that is not UTF-8".to_string())?;
    let text = text.trim();
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
        format!(
            "wrote output that is not JSON ({e}): {}",
            super::shorten(text, 200)
        )
    })?;
    Ok(text.to_string())
}

#[cfg(test)]
mod tests;
