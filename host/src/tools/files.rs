//! The built-in `files` tool: read, write, list and delete files inside a
//! workspace directory of the run's own, `ROOT/<run-id>/`.
//!
//! One tool, one `op` argument, so a journal reads as a list of file
//! operations: `{"op": "write", "path": "notes/a.md", "content": "..."}`.
//!
//! | op | arguments | result |
//! |---|---|---|
//! | `read` | `path` | `{"path", "size", "content"}` (`content_base64` when not UTF-8) |
//! | `write` | `path`, `content` or `content_base64` | `{"path", "bytes"}` |
//! | `list` | `path` (optional: the workspace) | `{"path", "entries": [{"name", "type", "size"}], "truncated"}` |
//! | `delete` | `path` | `{"path", "deleted"}` (false: there was nothing) |
//!
//! **Confinement.** A path is relative: an absolute path or a `..`
//! component is refused before the file system is touched. Every component
//! is then looked at without following it (`symlink_metadata`); a symbolic
//! link is followed only if its canonical target stays inside the
//! workspace, so links that a command tool (say, `git clone` or `tar x`)
//! leaves in the workspace work, and links that lead out are refused. Paths
//! are opened through the resolved, link-free path; a file read is checked,
//! after opening, to be the very file that was checked (same device and
//! inode), so a link swapped in at the last moment is caught. A write goes
//! to a new temporary file (`create_new`, which never follows a link) that
//! is then renamed over the target; delete removes a link, never what it
//! points to. The tool itself cannot create links. What remains: a process
//! running *concurrently* in the workspace (one a command tool left behind)
//! could swap a directory for a link between the check and the open; and a
//! hard link into the workspace reads as the file it is.
//!
//! **Idempotent by design.** `write` replaces the whole file (never
//! appends) and `delete` of a missing file succeeds, so running an
//! interrupted call again on resume leaves the workspace as one run would
//! have: the tool is idempotent and a crash never makes a run `uncertain`
//! because of it. (Only the `deleted` flag of a re-run delete may differ
//! from what the first, unrecorded, attempt saw.)
//!
//! **Limits.** A file read or written is at most `max_bytes`; one run's
//! workspace holds at most `max_workspace_bytes` of files and
//! [`MAX_WORKSPACE_ENTRIES`] entries (checked on write); `list` returns at
//! most [`MAX_LIST_ENTRIES`] entries; a call must finish within
//! `timeout_secs`. Workspaces are kept after the run ends (a resumed run
//! finds its files again); deleting old ones is up to the operator.
//!
//! **Several hosts.** A workspace is a directory, not part of the journal:
//! services on several hosts share workspaces only when `root` is a
//! directory they all mount (a network file system). A run whose earlier
//! call succeeded ([`ToolContext::used_before`]) and whose workspace is
//! missing — it moved to a host that does not share the root, or the
//! directory was removed — gets an error naming the directory and that
//! fix: it never goes on silently with an empty workspace.

use super::{Tool, ToolContext, ToolError};
use crate::config::ToolConfig;
use crate::llm::{BoxFuture, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where workspaces are made when `root` is absent (relative to relive.toml).
pub const DEFAULT_FILES_ROOT: &str = "workspaces";
/// Largest file read or written when `max_bytes` is absent.
pub const DEFAULT_FILES_MAX_BYTES: u64 = 1 << 20;
/// Most bytes of files in one workspace when `max_workspace_bytes` is absent.
pub const DEFAULT_MAX_WORKSPACE_BYTES: u64 = 256 << 20;
/// Time one call may take when `timeout_secs` is absent.
pub const DEFAULT_FILES_TIMEOUT_SECS: u64 = 30;
/// Longest path argument.
pub const MAX_PATH_BYTES: usize = 1024;
/// Most components in a path argument.
pub const MAX_PATH_DEPTH: usize = 32;
/// Most entries one `list` returns.
pub const MAX_LIST_ENTRIES: usize = 1000;
/// Most files and directories one workspace may hold (checked on write).
pub const MAX_WORKSPACE_ENTRIES: u64 = 10_000;
/// Prefix of the temporary file a write goes through; `list` hides these.
const TEMP_PREFIX: &str = ".relive-write-";

/// The `files` tool of one `[tools.NAME]` table.
pub struct FilesTool {
    inner: Arc<Inner>,
    description: String,
    timeout: Duration,
}

struct Inner {
    name: String,
    root: PathBuf,
    max_bytes: u64,
    max_workspace_bytes: u64,
}

/// The arguments of a call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    op: String,
    #[serde(default)]
    path: String,
    content: Option<String>,
    content_base64: Option<String>,
}

/// Why a call did nothing.
enum Problem {
    /// The path breaks a confinement rule.
    Refused(String),
    /// The operation failed.
    Failed(String),
}

fn failed(message: impl Into<String>) -> Problem {
    Problem::Failed(message.into())
}

fn io(e: std::io::Error) -> Problem {
    Problem::Failed(e.to_string())
}

impl FilesTool {
    /// The tool of a validated `[tools.NAME]` table with `builtin = "files"`;
    /// a relative `root` resolves against `base_dir`.
    pub fn new(name: &str, config: &ToolConfig, base_dir: &Path) -> FilesTool {
        let root = config
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILES_ROOT));
        let root = if root.is_absolute() {
            root
        } else {
            base_dir.join(root)
        };
        let max_bytes = config.max_bytes.unwrap_or(DEFAULT_FILES_MAX_BYTES);
        let description = if config.description.is_empty() {
            format!(
                "Files in this run's own workspace directory. op \"read\" {{path}}, \"write\" {{path, content}} (replaces the whole file, creates missing directories), \"list\" {{path?}}, \"delete\" {{path}}. Paths are relative to the workspace; files are at most {max_bytes} bytes."
            )
        } else {
            config.description.clone()
        };
        FilesTool {
            inner: Arc::new(Inner {
                name: name.to_string(),
                root,
                max_bytes,
                max_workspace_bytes: config
                    .max_workspace_bytes
                    .unwrap_or(DEFAULT_MAX_WORKSPACE_BYTES),
            }),
            description,
            timeout: Duration::from_secs(config.timeout_secs.unwrap_or(DEFAULT_FILES_TIMEOUT_SECS)),
        }
    }

    async fn run(&self, ctx: &ToolContext, arguments: &str) -> Result<String, ToolError> {
        let name = &self.inner.name;
        let args: Args = serde_json::from_str(arguments).map_err(|e| {
            ToolError::InvalidArguments(format!(
                "tool `{name}` takes {{\"op\": \"read\" | \"write\" | \"list\" | \"delete\", \"path\": \"relative/path\", \"content\": \"...\"}}: {e}"
            ))
        })?;
        let inner = self.inner.clone();
        let (run_id, seq, used) = (ctx.run_id.clone(), ctx.seq, ctx.used_before);
        let work = tokio::task::spawn_blocking(move || inner.call(&run_id, seq, used, args));
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(result)) => result.map(|v| v.to_string()),
            Ok(Err(e)) => Err(ToolError::Failed(format!("tool `{name}` failed: {e}"))),
            Err(_) => Err(ToolError::Failed(format!(
                "tool `{name}` did not finish within {} s (raise `timeout_secs` under [tools.{name}])",
                self.timeout.as_secs()
            ))),
        }
    }
}

impl Inner {
    /// Runs one call; `used` says the run's workspace was made by an
    /// earlier call (see [`ToolContext::used_before`]).
    fn call(&self, run_id: &str, seq: u64, used: bool, args: Args) -> Result<Value, ToolError> {
        let name = &self.name;
        let shown = args.path.clone();
        let op = args.op.clone();
        let result = match op.as_str() {
            "read" | "write" | "list" | "delete" => self.dispatch(run_id, seq, used, args),
            other => {
                return Err(ToolError::InvalidArguments(format!(
                    "tool `{name}` has no op `{other}`; use \"read\", \"write\", \"list\" or \"delete\""
                )));
            }
        };
        result.map_err(|problem| match problem {
            Problem::Refused(why) => {
                ToolError::Failed(format!("tool `{name}` refused path `{shown}`: {why}"))
            }
            Problem::Failed(why) => {
                ToolError::Failed(format!("tool `{name}` could not {op} `{shown}`: {why}"))
            }
        })
    }

    fn dispatch(&self, run_id: &str, seq: u64, used: bool, args: Args) -> Result<Value, Problem> {
        let parts = parse_path(&args.path)?;
        if args.op != "write" && (args.content.is_some() || args.content_base64.is_some()) {
            return Err(failed(
                "`content` and `content_base64` go with op \"write\" only",
            ));
        }
        if parts.is_empty() && args.op != "list" {
            return Err(failed(
                "a path is required, e.g. \"notes.md\" (only \"list\" takes the workspace itself)",
            ));
        }
        let workspace = self.workspace(run_id, used)?;
        let shown = if parts.is_empty() {
            ".".to_string()
        } else {
            parts.join("/")
        };
        match args.op.as_str() {
            "read" => self.read(&workspace, &parts, &shown),
            "write" => {
                let bytes = match (args.content, args.content_base64) {
                    (Some(text), None) => text.into_bytes(),
                    (None, Some(b64)) => super::base64::decode(&b64)
                        .map_err(|e| failed(format!("`content_base64`: {e}")))?,
                    _ => {
                        return Err(failed(
                            "op \"write\" takes exactly one of `content` (text) and `content_base64`",
                        ));
                    }
                };
                self.write(&workspace, &parts, &shown, &bytes, seq)
            }
            "list" => self.list(&workspace, &parts, &shown),
            _ => self.delete(&workspace, &parts, &shown),
        }
    }

    fn too_big(&self, size: u64) -> Problem {
        failed(format!(
            "{size} bytes is over the limit of {} bytes per file (`max_bytes` under [tools.{}])",
            self.max_bytes, self.name
        ))
    }

    fn read(&self, workspace: &Path, parts: &[String], shown: &str) -> Result<Value, Problem> {
        let (path, meta) = self.resolve(workspace, parts, shown, false)?;
        let meta = meta.ok_or_else(|| failed("it does not exist"))?;
        if meta.is_dir() {
            return Err(failed("it is a directory; use op \"list\""));
        }
        if !meta.is_file() {
            return Err(failed("it is not a regular file"));
        }
        if meta.len() > self.max_bytes {
            return Err(self.too_big(meta.len()));
        }
        let file = fs::File::open(&path).map_err(io)?;
        let opened = file.metadata().map_err(io)?;
        if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
            return Err(Problem::Refused(
                "it was replaced while being opened (by a symbolic link?)".into(),
            ));
        }
        let mut bytes = Vec::new();
        file.take(self.max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(self.too_big(bytes.len() as u64));
        }
        let size = bytes.len();
        Ok(match String::from_utf8(bytes) {
            Ok(text) => json!({ "path": shown, "size": size, "content": text }),
            Err(e) => json!({
                "path": shown,
                "size": size,
                "content_base64": super::base64::encode(e.as_bytes()),
            }),
        })
    }

    fn write(
        &self,
        workspace: &Path,
        parts: &[String],
        shown: &str,
        bytes: &[u8],
        seq: u64,
    ) -> Result<Value, Problem> {
        if bytes.len() as u64 > self.max_bytes {
            return Err(self.too_big(bytes.len() as u64));
        }
        let (used, entries) = usage(workspace).map_err(io)?;
        let full = entries >= MAX_WORKSPACE_ENTRIES;
        let full_error = || {
            failed(format!(
                "the run's workspace already holds {entries} files and directories, the limit ({MAX_WORKSPACE_ENTRIES})"
            ))
        };
        // A full workspace gets no new directory, nor a new file.
        let (path, meta) = match self.resolve(workspace, parts, shown, !full) {
            Err(Problem::Failed(_)) if full => return Err(full_error()),
            resolved => resolved?,
        };
        let replaced = match &meta {
            Some(m) if m.is_dir() => return Err(failed("it is a directory")),
            Some(m) if !m.is_file() => return Err(failed("it is not a regular file")),
            Some(m) => m.len(),
            None if full => return Err(full_error()),
            None => 0,
        };
        let total = used.saturating_sub(replaced) + bytes.len() as u64;
        if total > self.max_workspace_bytes {
            return Err(failed(format!(
                "the run's workspace would hold {total} bytes, over the limit of {} bytes (`max_workspace_bytes` under [tools.{}])",
                self.max_workspace_bytes, self.name
            )));
        }
        let dir = path.parent().expect("a file path has a parent");
        // Named after the call, so a call re-run after a crash finds and
        // replaces its own leftover.
        let temp = dir.join(format!("{TEMP_PREFIX}{seq}"));
        match fs::remove_file(&temp) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        let written = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io(e));
        }
        Ok(json!({ "path": shown, "bytes": bytes.len() }))
    }

    fn list(&self, workspace: &Path, parts: &[String], shown: &str) -> Result<Value, Problem> {
        let (path, meta) = self.resolve(workspace, parts, shown, false)?;
        match meta {
            None => return Err(failed("it does not exist")),
            Some(m) if !m.is_dir() => return Err(failed("it is not a directory")),
            Some(_) => {}
        }
        let mut entries = Vec::new();
        for entry in fs::read_dir(&path).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            // Neither call follows a link.
            let kind = entry.file_type().map_err(io)?;
            let mut item = json!({ "name": name });
            if kind.is_symlink() {
                item["type"] = "symlink".into();
            } else if kind.is_dir() {
                item["type"] = "dir".into();
            } else if kind.is_file() {
                item["type"] = "file".into();
                item["size"] = entry.metadata().map_err(io)?.len().into();
            } else {
                item["type"] = "other".into();
            }
            entries.push(item);
        }
        entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let truncated = entries.len() > MAX_LIST_ENTRIES;
        entries.truncate(MAX_LIST_ENTRIES);
        Ok(json!({ "path": shown, "entries": entries, "truncated": truncated }))
    }

    fn delete(&self, workspace: &Path, parts: &[String], shown: &str) -> Result<Value, Problem> {
        let (last, dirs) = parts.split_last().expect("checked: a path is given");
        // The last component is not followed: a link is removed, not its target.
        let path = self.directory(workspace, dirs, false)?.join(last);
        let removed = match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(json!({ "path": shown, "deleted": false }));
            }
            Err(e) => return Err(io(e)),
            Ok(meta) if meta.is_dir() => fs::remove_dir(&path),
            Ok(_) => fs::remove_file(&path),
        };
        removed.map_err(io)?;
        Ok(json!({ "path": shown, "deleted": true }))
    }
}

impl Tool for FilesTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.inner.name.clone(),
            description: self.description.clone(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "op": { "type": "string", "enum": ["read", "write", "list", "delete"] },
                    "path": { "type": "string", "description": "relative to the workspace; list takes \".\" for the workspace itself" },
                    "content": { "type": "string", "description": "write: the whole new text of the file" },
                    "content_base64": { "type": "string", "description": "write: the whole new content, base64-encoded, for bytes that are not text" }
                },
                "required": ["op"],
                "additionalProperties": false
            })
            .to_string(),
        }
    }

    /// See the module documentation: writes replace whole files, deletes of
    /// missing files succeed.
    fn idempotent(&self) -> bool {
        true
    }

    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(ctx, arguments))
    }
}

mod paths;

use paths::{parse_path, usage};
#[cfg(test)]
mod tests;
