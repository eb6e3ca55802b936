//! One MCP server, shared by every run of the process: its connection
//! (made on first use and made again after the server died), the tools it
//! lists, and bounded calls.

use super::connect::{Client, connect};
use super::{MAX_TOOL_NAME_CHARS, exposed_name};
use crate::config::{DEFAULT_TOOL_TIMEOUT_SECS, ToolConfig};
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::ServiceError;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Seconds a shutdown waits for a server to end before its process group
/// is killed.
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// How long a server that let a call time out has to answer a ping.
const PING_WAIT: Duration = Duration::from_secs(2);

/// What went wrong with an MCP server; the tool call's error says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    #[error("cannot connect to MCP server `{server}`: {reason}")]
    Connect { server: String, reason: String },
    #[error(
        "MCP server `{server}` no longer offers the tool `{tool}` (it offers: {offered}); the run was granted it when it started. Grant it again by restoring the server's tool, or let the agent do without"
    )]
    Vanished {
        server: String,
        tool: String,
        offered: String,
    },
    #[error("MCP server `{server}`: {reason}")]
    Listing { server: String, reason: String },
    #[error("MCP server `{server}` failed the call of `{tool}`: {reason}")]
    Call {
        server: String,
        tool: String,
        reason: String,
    },
    #[error("MCP server `{server}` is closed: relive is shutting down")]
    Closed { server: String },
}

/// Whether a failed call broke the connection (which was then dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    Yes,
    No,
}

impl Broken {
    /// `error`, which left the connection as it was.
    fn no(error: McpError) -> (McpError, Broken) {
        (error, Broken::No)
    }
}

/// A server's tools as it listed them when relive connected.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The server's name and version, as it introduced itself.
    pub server_info: String,
    pub tools: Vec<Tool>,
}

impl Listed {
    /// The tool whose relive name is `exposed`.
    pub fn find(&self, server: &str, exposed: &str) -> Option<&Tool> {
        self.tools
            .iter()
            .find(|t| exposed_name(server, &t.name) == exposed)
    }

    /// The names of the tools on offer, for messages.
    pub fn names(&self) -> String {
        if self.tools.is_empty() {
            return "no tools".into();
        }
        let names: Vec<&str> = self.tools.iter().map(|t| t.name.as_ref()).collect();
        names.join(", ")
    }
}

/// A live connection and what it listed.
struct Live {
    client: Client,
    /// A stdio server's process group.
    group: Option<u32>,
    listed: Arc<Listed>,
    generation: u64,
}

/// One configured MCP server.
pub struct McpServer {
    name: String,
    config: ToolConfig,
    base_dir: PathBuf,
    live: tokio::sync::Mutex<Option<Live>>,
    /// The last listing, for readers that cannot wait (a tool's spec).
    known: std::sync::Mutex<Option<Arc<Listed>>>,
    generation: std::sync::atomic::AtomicU64,
    closed: AtomicBool,
}

impl McpServer {
    /// The server `[tools.NAME]` describes; nothing is started until it is
    /// first used.
    pub fn new(name: &str, config: &ToolConfig, base_dir: &std::path::Path) -> McpServer {
        McpServer {
            name: name.to_string(),
            config: config.clone(),
            base_dir: base_dir.to_path_buf(),
            live: Default::default(),
            known: Default::default(),
            generation: Default::default(),
            closed: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &ToolConfig {
        &self.config
    }

    /// Whether this server is the one `config` describes.
    pub fn is(&self, config: &ToolConfig, base_dir: &std::path::Path) -> bool {
        self.config.mcp == config.mcp
            && self.config.timeout_secs == config.timeout_secs
            && self.base_dir == base_dir
    }

    /// The last listing, without waiting; `None` before the first connect.
    pub fn known(&self) -> Option<Arc<Listed>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The server's tools, connecting first if needed.
    pub async fn tools(&self) -> Result<Arc<Listed>, McpError> {
        self.connection().await.map(|(_, listed, _)| listed)
    }

    /// The tools of this server granted to agents, with their relive
    /// names: all, or those `allow` lists. Every name must fit a model.
    pub async fn granted(&self) -> Result<Vec<(String, Tool)>, McpError> {
        let listed = self.tools().await?;
        let failed = |reason: String| McpError::Listing {
            server: self.name.clone(),
            reason,
        };
        if let Some(allow) = &self.config.allow
            && let Some(missing) = allow
                .iter()
                .find(|a| !listed.tools.iter().any(|t| t.name == **a))
        {
            return Err(failed(format!(
                "it offers no tool `{missing}`, which `allow` in [tools.{}] lists; it offers: {}",
                self.name,
                listed.names()
            )));
        }
        let mut granted: Vec<(String, Tool)> = Vec::new();
        for tool in &listed.tools {
            if let Some(allow) = &self.config.allow
                && !allow.iter().any(|a| *a == tool.name)
            {
                continue;
            }
            let exposed = exposed_name(&self.name, &tool.name);
            if exposed.chars().count() > MAX_TOOL_NAME_CHARS {
                return Err(failed(format!(
                    "its tool `{}` would be named `{exposed}`, longer than the {MAX_TOOL_NAME_CHARS} characters models accept; shorten [tools.{}] or leave the tool out with `allow`",
                    tool.name, self.name
                )));
            }
            if let Some((_, other)) = granted.iter().find(|(e, _)| *e == exposed) {
                return Err(failed(format!(
                    "its tools `{}` and `{}` would both be named `{exposed}`; grant only one of them with `allow` in [tools.{}]",
                    other.name, tool.name, self.name
                )));
            }
            granted.push((exposed, tool.clone()));
        }
        Ok(granted)
    }

    /// Calls the tool named `exposed` (its relive name) with `arguments`,
    /// within `timeout_secs`; returns the server's result and the tool as
    /// listed. When the connection broke during the call (the server died,
    /// restarted, or stopped answering), an `idempotent` call is made once
    /// more, on a new connection.
    pub async fn call(
        &self,
        exposed: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        idempotency_key: &str,
        idempotent: bool,
    ) -> Result<(CallToolResult, Tool), McpError> {
        let first = self
            .call_once(exposed, arguments.clone(), idempotency_key)
            .await;
        match first {
            Err((error, Broken::Yes)) if idempotent => {
                eprintln!("relive: {error}; calling it again (it is idempotent)");
                self.call_once(exposed, arguments, idempotency_key)
                    .await
                    .map_err(|(e, _)| e)
            }
            other => other.map_err(|(e, _)| e),
        }
    }

    /// One attempt of [`McpServer::call`]; an error says whether the
    /// connection broke (and was dropped).
    async fn call_once(
        &self,
        exposed: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        idempotency_key: &str,
    ) -> Result<(CallToolResult, Tool), (McpError, Broken)> {
        let (client, listed, generation) = self.connection().await.map_err(Broken::no)?;
        let Some(tool) = listed.find(&self.name, exposed).cloned() else {
            return Err(Broken::no(McpError::Vanished {
                server: self.name.clone(),
                tool: exposed.to_string(),
                offered: listed.names(),
            }));
        };
        let failed = |reason: String| McpError::Call {
            server: self.name.clone(),
            tool: tool.name.to_string(),
            reason,
        };
        let params = request(&tool, arguments, idempotency_key);
        let secs = self
            .config
            .timeout_secs
            .unwrap_or(DEFAULT_TOOL_TIMEOUT_SECS);
        // Dropping the call on a timeout tells the server to cancel it.
        let answer =
            tokio::time::timeout(Duration::from_secs(secs), client.call_tool(params)).await;
        match answer {
            Ok(Ok(result)) => Ok((result, tool)),
            Err(_) => {
                // A server that does not answer a ping either is wedged (or
                // lost the session): the next call starts afresh.
                let alive = self.answers_ping(&client).await;
                if !alive {
                    self.drop_connection(generation).await;
                }
                let broken = if alive { Broken::No } else { Broken::Yes };
                Err((
                    failed(format!(
                        "no answer within {secs} s ({}; a stdio server's message over 16 MiB is also never delivered); raise `timeout_secs` under [tools.{}] if it needs longer",
                        if alive {
                            "the server answers pings, so it may still be working"
                        } else {
                            "nor to a ping: it is started (or connected to) again for the next call"
                        },
                        self.name
                    )),
                    broken,
                ))
            }
            Ok(Err(ServiceError::McpError(error))) => {
                // "Unknown tool" comes back as a protocol error from some
                // servers: look again, and say so if the tool is gone.
                if let Ok(fresh) = self.relist(generation).await
                    && fresh.find(&self.name, exposed).is_none()
                {
                    return Err(Broken::no(McpError::Vanished {
                        server: self.name.clone(),
                        tool: exposed.to_string(),
                        offered: fresh.names(),
                    }));
                }
                Err(Broken::no(failed(format!(
                    "it answered with error {}: {}",
                    error.code.0, error.message
                ))))
            }
            Ok(Err(ServiceError::UnexpectedResponse)) => Err(Broken::no(failed(
                "it answered with something other than a result (an input request or a task, which relive does not take part in)".into(),
            ))),
            Ok(Err(e)) => {
                self.drop_connection(generation).await;
                let error = failed(format!(
                    "the connection broke ({e}); the server is started (or connected to) again for the next call"
                ));
                Err((error, Broken::Yes))
            }
        }
    }

    /// Whether the server answers a ping within [`PING_WAIT`].
    async fn answers_ping(&self, client: &rmcp::Peer<rmcp::RoleClient>) -> bool {
        let ping = rmcp::model::PingRequest {
            method: Default::default(),
            extensions: Default::default(),
        };
        let sent = client.send_request(rmcp::model::ClientRequest::PingRequest(ping));
        matches!(tokio::time::timeout(PING_WAIT, sent).await, Ok(Ok(_)))
    }

    /// The live connection, made first if there is none or it died.
    async fn connection(
        &self,
    ) -> Result<(rmcp::Peer<rmcp::RoleClient>, Arc<Listed>, u64), McpError> {
        let mut live = self.live.lock().await;
        if self.closed.load(Ordering::SeqCst) {
            return Err(McpError::Closed {
                server: self.name.clone(),
            });
        }
        if let Some(l) = live.as_ref()
            && !l.client.is_transport_closed()
        {
            return Ok((l.client.peer().clone(), l.listed.clone(), l.generation));
        }
        if let Some(dead) = live.take() {
            eprintln!(
                "relive: mcp server `{}` has gone away; starting it again",
                self.name
            );
            tokio::spawn(dead.end());
        }
        let (client, group) = connect(
            &self.name,
            self.config.mcp.as_ref().expect("an MCP server's table"),
            &self.base_dir,
        )
        .await?;
        let listed = Arc::new(list(&self.name, &client).await?);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) = Some(listed.clone());
        let peer = client.peer().clone();
        *live = Some(Live {
            client,
            group,
            listed: listed.clone(),
            generation,
        });
        Ok((peer, listed, generation))
    }

    /// Lists the tools again on the connection of `generation`.
    async fn relist(&self, generation: u64) -> Result<Arc<Listed>, McpError> {
        let mut live = self.live.lock().await;
        let Some(l) = live.as_mut().filter(|l| l.generation == generation) else {
            return Err(McpError::Closed {
                server: self.name.clone(),
            });
        };
        let listed = Arc::new(list(&self.name, &l.client).await?);
        l.listed = listed.clone();
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) = Some(listed.clone());
        Ok(listed)
    }

    /// Forgets a broken connection (if it is still the current one), so
    /// that the next call makes a new one.
    async fn drop_connection(&self, generation: u64) {
        let mut live = self.live.lock().await;
        if live.as_ref().is_some_and(|l| l.generation == generation)
            && let Some(dead) = live.take()
        {
            tokio::spawn(dead.end());
        }
    }

    /// Ends the connection: a stdio server's input is closed, and its
    /// process group is killed if it has not ended within a few seconds.
    /// Later calls are refused.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let taken = self.live.lock().await.take();
        if let Some(live) = taken {
            live.end().await;
        }
    }
}

impl Live {
    /// Closes the connection; a stdio server that has not ended within
    /// [`CLOSE_WAIT`] twice over is killed with its process group.
    async fn end(mut self) {
        let ended = self.client.close_with_timeout(CLOSE_WAIT * 2).await;
        if matches!(ended, Ok(None)) {
            kill_group(self.group);
        }
    }
}

/// SIGKILL to a stdio server's process group that did not end when asked.
fn kill_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = group
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = group;
}

/// The `tools/call` request of `tool`, with the call's idempotency key in
/// `_meta`: servers may use it to make a call run once however often it
/// is sent.
fn request(
    tool: &Tool,
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
    idempotency_key: &str,
) -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new(tool.name.to_string());
    params.arguments = arguments;
    let mut meta = serde_json::Map::new();
    meta.insert(
        "relive/idempotency-key".into(),
        serde_json::Value::String(idempotency_key.to_string()),
    );
    params.meta = Some(meta.into());
    params
}

/// Lists every tool of the server (following pages).
async fn list(server: &str, client: &Client) -> Result<Listed, McpError> {
    let tools = tokio::time::timeout(Duration::from_secs(30), client.list_all_tools())
        .await
        .map_err(|_| McpError::Listing {
            server: server.to_string(),
            reason: "it did not list its tools within 30 s".into(),
        })?
        .map_err(|e| McpError::Listing {
            server: server.to_string(),
            reason: format!("listing its tools failed: {e}"),
        })?;
    let server_info = client
        .peer_info()
        .and_then(|i| i.server_info.clone())
        .map(|i| format!("{} {}", i.name, i.version))
        .unwrap_or_else(|| "(unknown)".into());
    Ok(Listed { server_info, tools })
}
