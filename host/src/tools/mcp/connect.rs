//! Reaching one MCP server: starting a stdio server in a process group of
//! its own with a cleared environment, or connecting to a streamable HTTP
//! server with headers from relive's environment; then the handshake, all
//! within `connect_timeout_secs`.
//!
//! A stdio server sees `PATH`, `HOME` and the variables its `env` table
//! names, nothing else of relive's environment. Its stderr is forwarded to
//! relive's, one line at a time, prefixed with the server's name; it never
//! reaches a result. Keys are read when relive connects and are never put
//! in an error message.

use super::server::McpError;
use super::{DEFAULT_CONNECT_TIMEOUT_SECS, MAX_MESSAGE_BYTES, install_crypto};
use crate::config::McpConfig;
use process_wrap::tokio::{CommandWrap, ProcessGroup};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// A connected MCP client.
pub(super) type Client = RunningService<RoleClient, ClientConfig>;

/// Variables of relive's environment every stdio server gets: without
/// them `npx`, `uvx` and most interpreters do not start.
const PASSED_THROUGH: [&str; 2] = ["PATH", "HOME"];

/// How relive introduces itself. The protocol version is pinned to the
/// newest one with the `initialize` handshake, which every server speaks.
fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("relive", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
}

/// Starts or reaches the server `name` and finishes the handshake; returns
/// the client and, for a stdio server, the id of its process group.
pub(super) async fn connect(
    name: &str,
    config: &McpConfig,
    base_dir: &Path,
) -> Result<(Client, Option<u32>), McpError> {
    let failed = |reason: String| McpError::Connect {
        server: name.to_string(),
        reason,
    };
    let secs = config
        .connect_timeout_secs
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS);
    let handshake = async {
        match (&config.command, &config.url) {
            (Some(command), _) => {
                let transport = spawn(name, config, command, base_dir).map_err(failed)?;
                let group = transport.id();
                let client = client_config()
                    .serve(transport)
                    .await
                    .map_err(|e| failed(format!("the MCP handshake failed: {e}")))?;
                Ok((client, group))
            }
            (None, Some(url)) => {
                let transport = http(name, config, url).map_err(failed)?;
                let client = client_config()
                    .serve(StreamableHttpClientTransport::from_config(transport))
                    .await
                    .map_err(|e| failed(format!("the MCP handshake with {url} failed: {e}")))?;
                Ok((client, None))
            }
            (None, None) => Err(failed("it has neither `command` nor `url`".into())),
        }
    };
    match tokio::time::timeout(Duration::from_secs(secs), handshake).await {
        Ok(result) => result,
        // Dropping the transport kills a stdio server's process group.
        Err(_) => Err(failed(format!(
            "the server did not finish the MCP handshake within {secs} s; check that it speaks MCP on {}, or raise `connect_timeout_secs` in [tools.{name}.mcp]",
            if config.command.is_some() {
                "stdin/stdout"
            } else {
                "its url"
            }
        ))),
    }
}

/// The value of the variable `var` of relive's environment, for `what`.
fn from_env(name: &str, var: &str, what: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| {
        format!("the environment variable {var} is not set; relive passes its value as {what} (see [tools.{name}.mcp]); set it where relive runs")
    })
}

/// Starts a stdio server in a process group of its own: closing the
/// connection (or dropping it) ends the whole group, so `npx` or `uvx`
/// wrappers and their children go together.
fn spawn(
    name: &str,
    config: &McpConfig,
    command: &[String],
    base_dir: &Path,
) -> Result<TokioChildProcess, String> {
    let program = PathBuf::from(command.first().map(String::as_str).unwrap_or_default());
    // A bare program name is looked up on PATH; a path with a directory
    // part is relative to the config file, as for command tools.
    let program = if program.components().count() > 1 && program.is_relative() {
        base_dir.join(program)
    } else {
        program
    };
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&command[1..]).current_dir(base_dir).env_clear();
    for var in PASSED_THROUGH {
        if let Ok(value) = std::env::var(var) {
            cmd.env(var, value);
        }
    }
    for (var, from) in &config.env {
        cmd.env(var, from_env(name, from, &format!("the server's {var}"))?);
    }
    let mut wrap = CommandWrap::from(cmd);
    wrap.wrap(ProcessGroup::leader());
    let (transport, stderr) = TokioChildProcess::builder(wrap)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "could not start {}: {e} (check `command` in [tools.{name}.mcp])",
                program.display()
            )
        })?;
    if let Some(stderr) = stderr {
        let name = name.to_string();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("relive: mcp server `{name}`: {line}");
            }
        });
    }
    Ok(transport)
}

/// A streamable HTTP transport's configuration, with the configured headers. A broken
/// event stream is retried twice, 250 ms apart, then the call fails
/// (rmcp's default retries forever).
fn http(
    name: &str,
    config: &McpConfig,
    url: &str,
) -> Result<StreamableHttpClientTransportConfig, String> {
    install_crypto();
    let mut headers = HashMap::new();
    let mut add = |header: &str, value: String| -> Result<(), String> {
        let key = http::HeaderName::try_from(header)
            .map_err(|_| format!("{header:?} is not an HTTP header name"))?;
        // The value is a key: it never goes into a message.
        let value = http::HeaderValue::try_from(value).map_err(|_| {
            format!("the value for header {header} is not a valid header value (check its variable in [tools.{name}.mcp])")
        })?;
        headers.insert(key, value);
        Ok(())
    };
    for (header, var) in &config.headers_env {
        add(
            header,
            from_env(name, var, &format!("the header {header}"))?,
        )?;
    }
    if let Some(var) = &config.bearer_env {
        let token = from_env(name, var, "the bearer token")?;
        add("authorization", format!("Bearer {token}"))?;
    }
    let mut retry = rmcp::transport::common::client_side_sse::FixedInterval::default();
    retry.max_times = Some(2);
    retry.duration = Duration::from_millis(250);
    let mut transport = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .custom_headers(headers)
        .max_json_response_size(MAX_MESSAGE_BYTES);
    transport.max_sse_event_size = MAX_MESSAGE_BYTES;
    transport.retry_config = Arc::new(retry);
    Ok(transport)
}
