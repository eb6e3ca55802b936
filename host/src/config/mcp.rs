//! `[tools.NAME] mcp = {...}`: an MCP server whose tools are granted as
//! relive tools, and its checks.
//!
//! ```toml
//! [tools.time]                    # a server run as a child process (stdio)
//! mcp = { command = ["mcp-server-time", "--local-timezone", "UTC"] }
//!
//! [tools.github]                  # a server over streamable HTTP
//! mcp = { url = "https://api.example.com/mcp", bearer_env = "GITHUB_TOKEN" }
//! allow = ["search_issues"]       # the server's tools to grant; default: all
//! approval = "required"           # every call of its tools waits for a person
//! timeout_secs = 60               # one call, the default
//!
//! [tools.github.overrides.search_issues]   # per tool, by its MCP name
//! idempotent = true               # instead of what the server's annotations say
//! approval = "none"
//! ```
//!
//! Keys stay in the host's environment: `env` and `headers_env` name the
//! variables of relive's environment whose values go to the server, never
//! the values themselves, and a stdio server sees nothing else of relive's
//! environment but `PATH` and `HOME`.

use super::ToolApproval;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The most characters of a `[tools.NAME]` that is an MCP server: its tools
/// are named `NAME__TOOL`, and models take names of up to 64 characters.
pub const MAX_MCP_NAME_CHARS: usize = 32;

/// How to reach an MCP server: `command` (stdio) or `url` (streamable
/// HTTP), exactly one of the two.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Program and arguments of a stdio server; a relative program path is
    /// resolved against the directory of the config file, which is also
    /// its working directory.
    pub command: Option<Vec<String>>,
    /// stdio: the server's environment variable → the variable of relive's
    /// environment its value comes from.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The endpoint of a streamable HTTP server (`http://` or `https://`).
    pub url: Option<String>,
    /// HTTP: header → the variable of relive's environment holding its value.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// HTTP: sends `Authorization: Bearer <the value of this variable>`.
    pub bearer_env: Option<String>,
    /// Most seconds to start the server and finish the MCP handshake.
    pub connect_timeout_secs: Option<u64>,
}

/// `[tools.NAME.overrides.TOOL]`: what the operator decides for one tool of
/// an MCP server, instead of its annotations or the server's table.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct McpToolOverride {
    pub idempotent: Option<bool>,
    pub approval: Option<ToolApproval>,
}

type KeyError = (&'static str, String);

impl McpConfig {
    /// What is wrong with the `mcp` table of the tool `name`.
    pub(super) fn check(&self, name: &str) -> Result<(), KeyError> {
        check_name(name)?;
        if self.connect_timeout_secs == Some(0) {
            return Err((
                "mcp",
                "`connect_timeout_secs` must be at least 1, e.g. connect_timeout_secs = 30".into(),
            ));
        }
        match (&self.command, &self.url) {
            (Some(_), Some(_)) => Err(("mcp", "has both `command` and `url`: a server is either a program relive starts (stdio) or an address it connects to (streamable HTTP); remove one of them".into())),
            (None, None) => Err(("mcp", "needs `command` (a stdio server, e.g. mcp = { command = [\"mcp-server-time\"] }) or `url` (a streamable HTTP server, e.g. mcp = { url = \"http://127.0.0.1:3001/mcp\" })".into())),
            (Some(command), None) => self.check_stdio(command),
            (None, Some(url)) => self.check_http(url),
        }
    }

    fn check_stdio(&self, command: &[String]) -> Result<(), KeyError> {
        if command.first().is_none_or(|p| p.is_empty()) {
            return Err((
                "mcp",
                "`command` must name a program, e.g. mcp = { command = [\"mcp-server-time\"] }"
                    .into(),
            ));
        }
        if !self.headers_env.is_empty() || self.bearer_env.is_some() {
            return Err(("mcp", "`headers_env` and `bearer_env` apply to HTTP servers (`url`); give a stdio server its keys with `env`".into()));
        }
        for (var, from) in &self.env {
            check_var(var)?;
            check_var(from)?;
        }
        Ok(())
    }

    fn check_http(&self, url: &str) -> Result<(), KeyError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err((
                "mcp",
                format!(
                    "`url` must be an http:// or https:// address, e.g. \"http://127.0.0.1:3001/mcp\"; got {url:?}"
                ),
            ));
        }
        if !self.env.is_empty() {
            return Err(("mcp", "`env` applies to stdio servers (`command`); give an HTTP server its keys with `headers_env` or `bearer_env`".into()));
        }
        for (header, from) in &self.headers_env {
            if http::HeaderName::try_from(header.as_str()).is_err() {
                return Err((
                    "mcp",
                    format!("`headers_env`: {header:?} is not an HTTP header name"),
                ));
            }
            check_var(from)?;
        }
        if let Some(var) = &self.bearer_env {
            check_var(var)?;
        }
        Ok(())
    }
}

/// An MCP server's tools are named `NAME__TOOL`: `NAME` must be short, of
/// letters, digits, `-` and `_`, and hold no `__`, so that no two servers'
/// tools can share a name.
fn check_name(name: &str) -> Result<(), KeyError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_MCP_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.contains("__")
        && !name.ends_with('_');
    if ok {
        return Ok(());
    }
    Err((
        "mcp",
        format!(
            "the server's tools are named `{name}__TOOL`, so `{name}` must be 1 to {MAX_MCP_NAME_CHARS} letters, digits, `-` or `_`, with no `__` and no `_` at the end; rename [tools.{name}], e.g. [tools.github]"
        ),
    ))
}

/// The name of an environment variable.
fn check_var(name: &str) -> Result<(), KeyError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        return Ok(());
    }
    Err((
        "mcp",
        format!(
            "{name:?} is not the name of an environment variable; `env`, `headers_env` and `bearer_env` name variables of relive's environment (e.g. \"GITHUB_TOKEN\"), never the keys themselves"
        ),
    ))
}
