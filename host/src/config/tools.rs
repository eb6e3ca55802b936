//! `[tools.NAME]`: the tools an operator configures (a command, a
//! built-in, or an MCP server's tools), and their checks.

use super::mcp::{McpConfig, McpToolOverride};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One `[tools.NAME]` table: a program the operator declares (`command`),
/// one of relive's built-in tools (`builtin`), or an MCP server whose tools
/// it grants (`mcp`, see [`McpConfig`]) — exactly one of the three.
///
/// ```toml
/// [tools.search]                  # a command tool: JSON arguments on stdin, JSON on stdout
/// command = ["python3", "tools/search.py"]   # a relative program path is relative to this file
/// description = "Search the notes"
/// schema = { type = "object" }    # JSON schema of the arguments; default: any object
/// idempotent = true               # required: safe to run twice with the same arguments?
/// timeout_secs = 60               # the default
///
/// [tools.fetch]                   # GET over http(s)
/// builtin = "http_get"
/// allow_hosts = ["example.com", "*.example.org"]   # default: empty, which allows no host
/// allow_private = false           # the default: loopback, private, link-local… refused
/// max_bytes = 1048576             # the default: a longer body is cut ("truncated": true)
/// timeout_secs = 30               # the default, DNS included
///
/// [tools.files]                   # read, write, list, delete in a per-run workspace
/// builtin = "files"
/// root = "workspaces"             # the default; run RUN works in root/RUN/ (relative to this file);
///                                 # with services on several hosts, a directory they all share
/// max_bytes = 1048576             # the default: largest file read or written
/// max_workspace_bytes = 268435456 # the default: total size of one run's workspace
/// timeout_secs = 30               # the default
/// ```
///
/// An MCP server's tools say themselves whether they are idempotent (their
/// annotations); `idempotent` and `[tools.NAME.overrides.TOOL]` overrule
/// them. See [`McpConfig`].
///
/// Built-in tools are idempotent by design, so `idempotent` is implied and
/// may not be set (see [`crate::tools::files`] for why writes are too); they
/// describe their own arguments, so `schema` may not be set either; a
/// `description` replaces theirs. Keys of one kind of tool are errors on
/// another.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    /// `"required"`: the host asks a person before every call of this tool
    /// (the run is suspended until `relive approve` / `reject`); a rejection
    /// is the tool's error for the agent. Default: `"none"`.
    #[serde(default)]
    pub approval: ToolApproval,
    /// Program and arguments; a relative program path is resolved against the
    /// directory of the config file.
    pub command: Option<Vec<String>>,
    /// A built-in tool instead of a program.
    pub builtin: Option<crate::tools::Builtin>,
    /// An MCP server whose tools are granted.
    pub mcp: Option<McpConfig>,
    /// mcp: the server's tools to grant, by their MCP names; default: all.
    pub allow: Option<Vec<String>>,
    /// mcp: per tool, by its MCP name: idempotency and approval.
    #[serde(default)]
    pub overrides: BTreeMap<String, McpToolOverride>,
    #[serde(default)]
    pub description: String,
    /// JSON schema of the arguments of a command tool (defaults to any object).
    pub schema: Option<toml::Value>,
    /// Is a command tool safe to run twice with the same arguments? Decides
    /// what happens to a call interrupted by a crash: re-run, or ask the
    /// operator. Required for command tools; implied for built-in ones.
    pub idempotent: Option<bool>,
    pub timeout_secs: Option<u64>,
    /// http_get: the hosts it may reach; none by default.
    pub allow_hosts: Option<Vec<String>>,
    /// http_get: reach loopback, private and link-local addresses too.
    pub allow_private: Option<bool>,
    /// http_get: most body bytes kept; files: largest file read or written.
    pub max_bytes: Option<u64>,
    /// files: the directory holding one workspace per run.
    pub root: Option<PathBuf>,
    /// files: most bytes of regular files in one run's workspace.
    pub max_workspace_bytes: Option<u64>,
}

impl ToolConfig {
    /// The keys only some kinds of tool take: (key, set?, the kind).
    fn kind_keys(&self) -> [(&'static str, bool, Option<crate::tools::Builtin>); 5] {
        use crate::tools::Builtin::{Files, HttpGet};
        [
            ("allow_hosts", self.allow_hosts.is_some(), Some(HttpGet)),
            ("allow_private", self.allow_private.is_some(), Some(HttpGet)),
            ("max_bytes", self.max_bytes.is_some(), None),
            ("root", self.root.is_some(), Some(Files)),
            (
                "max_workspace_bytes",
                self.max_workspace_bytes.is_some(),
                Some(Files),
            ),
        ]
    }

    /// What is wrong with the keys of the tool `name`, as (key, message).
    pub(super) fn check(&self, name: &str) -> Result<(), (&'static str, String)> {
        let at_least_one = |key: &'static str, value: Option<u64>, example: &str| match value {
            Some(0) => Err((key, format!("must be at least 1, e.g. {key} = {example}"))),
            _ => Ok(()),
        };
        at_least_one("timeout_secs", self.timeout_secs, "30")?;
        if let Some(mcp) = &self.mcp {
            return self.check_mcp(name, mcp);
        }
        if self.allow.is_some() || !self.overrides.is_empty() {
            let key = if self.allow.is_some() {
                "allow"
            } else {
                "overrides"
            };
            return Err((key, "applies only to MCP servers (`mcp`); remove it".into()));
        }
        let builtin = match (&self.command, self.builtin) {
            (Some(_), Some(_)) => {
                return Err(("builtin", "cannot be used together with `command`: a tool is either a program (`command`) or a built-in tool (`builtin`); remove one of them".into()));
            }
            (None, None) => {
                return Err(("command", "is missing: give the tool a program, e.g. command = [\"python3\", \"tool.py\"], or use a built-in tool, e.g. builtin = \"http_get\" or builtin = \"files\"".into()));
            }
            (Some(command), None) => return self.check_command(command),
            (None, Some(builtin)) => builtin,
        };
        self.check_builtin(builtin)
    }

    /// The keys of an MCP server's table.
    fn check_mcp(&self, name: &str, mcp: &McpConfig) -> Result<(), (&'static str, String)> {
        if self.command.is_some() || self.builtin.is_some() {
            let key = if self.command.is_some() {
                "command"
            } else {
                "builtin"
            };
            return Err((key, "cannot be used together with `mcp`: the server's program goes in the `mcp` table, e.g. mcp = { command = [\"mcp-server-time\"] }; remove it".into()));
        }
        let foreign = [
            ("schema", self.schema.is_some()),
            ("description", !self.description.is_empty()),
        ];
        if let Some((key, _)) = foreign.into_iter().find(|(_, set)| *set) {
            return Err((
                key,
                "is given by the MCP server for each of its tools; remove it".into(),
            ));
        }
        if let Some((key, _, _)) = self.kind_keys().into_iter().find(|(_, set, _)| *set) {
            return Err((
                key,
                "applies only to built-in tools (`builtin`); remove it from this MCP server".into(),
            ));
        }
        if let Some(tool) = self.allow.iter().flatten().find(|t| t.is_empty()) {
            return Err((
                "allow",
                format!(
                    "holds an empty name ({tool:?}); list the server's tools by their MCP names, e.g. allow = [\"get_current_time\"]"
                ),
            ));
        }
        mcp.check(name)
    }

    /// The keys of a command tool.
    fn check_command(&self, command: &[String]) -> Result<(), (&'static str, String)> {
        if command.first().is_none_or(|p| p.is_empty()) {
            return Err((
                "command",
                "must name a program, e.g. command = [\"python3\", \"tool.py\"]".into(),
            ));
        }
        if self.idempotent.is_none() {
            return Err(("idempotent", "is missing: say whether running the tool twice with the same arguments is harmless (idempotent = true) or not (idempotent = false); it decides what happens to a call interrupted by a crash".into()));
        }
        if let Some(schema) = &self.schema
            && !schema.is_table()
        {
            return Err((
                "schema",
                "must be a table holding a JSON schema, e.g. schema = { type = \"object\" }".into(),
            ));
        }
        if let Some((key, _, _)) = self.kind_keys().into_iter().find(|(_, set, _)| *set) {
            return Err((
                key,
                "applies only to built-in tools (`builtin`); remove it from this command tool"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The keys of a built-in tool.
    fn check_builtin(&self, builtin: crate::tools::Builtin) -> Result<(), (&'static str, String)> {
        let at_least_one = |key: &'static str, value: Option<u64>, example: &str| match value {
            Some(0) => Err((key, format!("must be at least 1, e.g. {key} = {example}"))),
            _ => Ok(()),
        };
        let kind = builtin.as_str();
        if self.idempotent.is_some() {
            return Err((
                "idempotent",
                format!(
                    "is implied for builtin = \"{kind}\" (it is idempotent by design); remove it"
                ),
            ));
        }
        if self.schema.is_some() {
            return Err((
                "schema",
                format!("builtin = \"{kind}\" describes its own arguments; remove it"),
            ));
        }
        if let Some((key, _, Some(owner))) = self
            .kind_keys()
            .into_iter()
            .find(|(_, set, owner)| *set && owner.is_some_and(|o| o != builtin))
        {
            return Err((
                key,
                format!(
                    "applies only to builtin = \"{}\", not to builtin = \"{kind}\"; remove it",
                    owner.as_str()
                ),
            ));
        }
        at_least_one("max_bytes", self.max_bytes, "1048576")?;
        at_least_one("max_workspace_bytes", self.max_workspace_bytes, "268435456")?;
        for host in self.allow_hosts.iter().flatten() {
            crate::tools::http_get::HostPattern::parse(host).map_err(|e| ("allow_hosts", e))?;
        }
        if let Some(root) = &self.root
            && root.as_os_str().is_empty()
        {
            return Err((
                "root",
                "must name a directory, e.g. root = \"workspaces\"".into(),
            ));
        }
        Ok(())
    }
}

/// Whether a tool needs a person's approval before each call.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ToolApproval {
    #[default]
    None,
    Required,
}
