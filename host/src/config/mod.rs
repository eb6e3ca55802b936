//! `relive.toml`: what the operator grants and configures.
//!
//! Deny by default: an agent gets no model and no tool unless its
//! `[agents.NAME]` table lists them. Unknown keys are errors (a misspelt
//! `idempotent` must not silently make a tool non-idempotent), and every error
//! names the key and the file.
//!
//! ```toml
//! [journal]
//! path = "relive.db"          # default: relive.db in the current directory
//! # url = "postgres://relive@db.example/relive"   # or a PostgreSQL database
//! #                           # shared by several hosts (instead of `path`)
//! fsync = "critical"          # or "every-entry"
//!
//! [models.scripted]
//! provider = "scripted"
//! script = "script.json"      # relative to this file
//!
//! [models.local]
//! provider = "openai"         # any OpenAI-compatible chat-completions server
//! base_url = "http://127.0.0.1:11434/v1"
//! model = "llama3.2"
//! api_key_env = "OPENAI_API_KEY"   # optional; the key itself never goes here
//!
//! [tools.search]
//! command = ["python3", "tools/search.py"]
//! description = "Search the notes"
//! schema = { type = "object", properties = { query = { type = "string" } } }
//! idempotent = true
//!
//! [tools.time]                # an MCP server's tools: time__get_current_time, …
//! mcp = { command = ["mcp-server-time"] }   # or url = "http://…/mcp"
//!
//! [agents.researcher]
//! component = "researcher.wasm"
//! models = ["scripted"]       # the first is the default
//! tools = ["search", "time"]
//! ```

pub mod limits;
mod mcp;
mod models;
mod tools;

pub use limits::{Limits, LimitsConfig};
pub use mcp::{MAX_MCP_NAME_CHARS, McpConfig, McpToolOverride};
pub use models::{HttpModelConfig, ModelConfig, ScriptedModelConfig};
pub use tools::{ToolApproval, ToolConfig};

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name looked up in the current directory when `--config` is absent.
pub const DEFAULT_CONFIG_FILE: &str = "relive.toml";
/// The journal file used when neither `--db` nor `journal.path` is given.
pub const DEFAULT_DB_FILE: &str = "relive.db";
/// Timeout of a command tool when `timeout_secs` is absent.
pub const DEFAULT_TOOL_TIMEOUT_SECS: u64 = 60;
/// Timeout of one LLM request when `timeout_secs` is absent.
pub const DEFAULT_LLM_TIMEOUT_SECS: u64 = 120;

/// A configuration error: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config file {path}: key `{key}`: {message}")]
    Key {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// When the journal forces data to disk (DESIGN §3).
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FsyncPolicy {
    /// fsync before a non-idempotent effect starts, when a run suspends and
    /// when it ends; every other commit survives a killed process (WAL) but
    /// not a power loss.
    #[default]
    Critical,
    /// fsync every commit: every entry survives a power loss.
    EveryEntry,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// An SQLite file.
    pub path: Option<PathBuf>,
    /// A PostgreSQL database, `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`,
    /// shared by relive processes on several hosts. A password is better
    /// kept out of the file: give the URL in `RELIVE_DB` instead.
    pub url: Option<String>,
    #[serde(default)]
    pub fsync: FsyncPolicy,
}

/// What one agent may use.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Path of the agent's component, so `relive run NAME` works.
    pub component: Option<PathBuf>,
    /// Models the agent may use; the first is its default.
    #[serde(default)]
    pub models: Vec<String>,
    /// Tools the agent may call.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Agents this agent may start as child runs (`agents.call`/`spawn`).
    #[serde(default)]
    pub agents: Vec<String>,
    /// Most LLM tokens (input + output) one run may use; the run stops with
    /// an error when a call would go past it.
    pub budget_tokens: Option<u64>,
    /// Most a run may spend on LLM calls, in the currency of the models'
    /// prices (`price_input` / `price_output`).
    pub budget_cost: Option<f64>,
    /// Resource limits of this agent's runs (override `[limits]`).
    #[serde(default)]
    pub limits: crate::config::LimitsConfig,
}

/// The whole of `relive.toml`.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub journal: JournalConfig,
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    #[serde(default)]
    pub tools: BTreeMap<String, ToolConfig>,
    #[serde(default)]
    pub agents: BTreeMap<String, AgentConfig>,
    /// Resource limits of every agent, unless its own table overrides them.
    #[serde(default)]
    pub limits: crate::config::LimitsConfig,
    /// Directory that relative paths in the file are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file this came from, for error messages (`None`: no file).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// Loads `path` if given (it must exist), else `./relive.toml` if present,
    /// else an empty configuration that grants nothing.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => Self::from_file(p),
            None => {
                let default = Path::new(DEFAULT_CONFIG_FILE);
                if default.exists() {
                    Self::from_file(default)
                } else {
                    Ok(Config {
                        base_dir: PathBuf::from("."),
                        ..Config::default()
                    })
                }
            }
        }
    }

    /// Parses and validates one file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, path, base_dir)
    }

    /// Parses and validates `text`, read from `path`.
    pub fn parse(text: &str, path: &Path, base_dir: PathBuf) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.base_dir = base_dir;
        config.source = Some(path.to_path_buf());
        config.validate()?;
        Ok(config)
    }

    fn key_error(&self, key: String, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            path: self
                .source
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE)),
            key,
            message: message.into(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_journal()?;
        for (name, tool) in &self.tools {
            tool.check(name)
                .map_err(|(key, message)| self.key_error(format!("tools.{name}.{key}"), message))?;
        }
        for (name, model) in &self.models {
            if let ModelConfig::Scripted(m) = model {
                let path = self.resolve(&m.script);
                if !path.is_file() {
                    return Err(self.key_error(
                        format!("models.{name}.script"),
                        format!("file {} does not exist", path.display()),
                    ));
                }
            }
            model.check().map_err(|(key, message)| {
                self.key_error(format!("models.{name}.{key}"), message)
            })?;
        }
        for (agent, grants) in &self.agents {
            if let Some(budget) = grants.budget_cost {
                if !(budget.is_finite() && budget >= 0.0) {
                    return Err(self.key_error(
                        format!("agents.{agent}.budget_cost"),
                        "must be a number of 0 or more",
                    ));
                }
                if let Some(model) = grants.models.iter().find(|m| {
                    self.models
                        .get(*m)
                        .is_some_and(|c| crate::llm::Prices::of(c).is_none())
                }) {
                    return Err(self.key_error(
                        format!("agents.{agent}.budget_cost"),
                        format!(
                            "a cost budget needs the price of every model of the agent; set `price_input` and `price_output` under [models.{model}]"
                        ),
                    ));
                }
            }
            for model in &grants.models {
                if !self.models.contains_key(model) {
                    return Err(self.key_error(
                        format!("agents.{agent}.models"),
                        format!("no model named `{model}`; define it under [models.{model}]"),
                    ));
                }
            }
            for tool in &grants.tools {
                if !self.tools.contains_key(tool) {
                    return Err(self.key_error(
                        format!("agents.{agent}.tools"),
                        format!("no tool named `{tool}`; define it under [tools.{tool}]"),
                    ));
                }
            }
            for child in &grants.agents {
                if !self.agents.contains_key(child) {
                    return Err(self.key_error(
                        format!("agents.{agent}.agents"),
                        format!(
                            "no agent named `{child}`; define it under [agents.{child}] with its `component`"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_journal(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.journal.url {
            if self.journal.path.is_some() {
                return Err(self.key_error(
                    "journal.url".into(),
                    "give either `path` (an SQLite file) or `url` (a PostgreSQL database), not both",
                ));
            }
            if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                return Err(self.key_error(
                    "journal.url".into(),
                    "must be a PostgreSQL URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (for an SQLite file use `path`)",
                ));
            }
        }
        Ok(())
    }

    /// Resolves a path from the file against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() || self.base_dir == Path::new(".") {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The grants of `agent`; an agent without a table gets nothing.
    pub fn agent(&self, agent: &str) -> AgentConfig {
        self.agents.get(agent).cloned().unwrap_or_default()
    }

    /// The limits in force for `agent`.
    pub fn limits(&self, agent: &str) -> crate::config::Limits {
        crate::config::Limits::resolve(&self.limits, &self.agent(agent).limits, agent)
    }

    /// Describes where this configuration came from, for messages.
    pub fn describe_source(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => format!("{DEFAULT_CONFIG_FILE} (not found; nothing is granted)"),
        }
    }
}

#[cfg(test)]
mod tests;
