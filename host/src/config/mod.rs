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
//! [agents.researcher]
//! component = "researcher.wasm"
//! models = ["scripted"]       # the first is the default
//! tools = ["search"]
//! ```

pub mod limits;

pub use limits::{Limits, LimitsConfig};

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
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub fsync: FsyncPolicy,
}

/// One model the operator configured, by `provider`.
///
/// ```toml
/// [models.local]
/// provider = "openai"                # OpenAI, Ollama, vLLM, llama.cpp, LM Studio
/// base_url = "http://127.0.0.1:11434/v1"   # required: nothing is sent anywhere by default
/// model = "llama3.2"
/// api_key_env = "OPENAI_API_KEY"     # optional; the key itself never goes here
///
/// [models.claude]
/// provider = "anthropic"
/// model = "claude-sonnet-4-5"
/// api_key_env = "ANTHROPIC_API_KEY"  # required
/// base_url = "https://api.anthropic.com"   # the default
/// max_tokens = 4096                  # the default for anthropic; none for openai
///
/// # Optional for both network providers, with their defaults:
/// # timeout_secs = 120    the answer must start (and, unstreamed, end) within it;
/// #                       a stream may not fall silent for longer
/// # max_attempts = 4      retries on 408/409/429/5xx, timeouts, broken connections
/// # retry_base_ms = 500   backoff ceiling after the first failure, doubling after each
/// # retry_max_ms = 30000  longest wait between attempts, `Retry-After` included
/// # stream = true         ask for server-sent events; false for servers without them
/// # price_input = 3.0     cost per million input tokens (also for scripted models;
/// # price_output = 15.0   set both or neither), for budgets and `relive show`
/// ```
#[derive(Deserialize, Clone, Debug)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum ModelConfig {
    /// Answers from a file, in order: deterministic, no key needed.
    Scripted(ScriptedModelConfig),
    /// An OpenAI-compatible chat-completions endpoint.
    Openai(HttpModelConfig),
    /// Anthropic's Messages API.
    Anthropic(HttpModelConfig),
}

/// A `provider = "scripted"` model.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ScriptedModelConfig {
    /// The script, relative to the config file.
    pub script: PathBuf,
    /// Cost per million input tokens.
    pub price_input: Option<f64>,
    /// Cost per million output tokens.
    pub price_output: Option<f64>,
}

/// A model behind an HTTP API (`provider = "openai"` or `"anthropic"`); see
/// [`ModelConfig`] for the keys and their defaults.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct HttpModelConfig {
    /// Required for openai; anthropic defaults to `https://api.anthropic.com`.
    pub base_url: Option<String>,
    /// The provider's name for the model.
    pub model: String,
    /// Name of the environment variable that holds the API key.
    pub api_key_env: Option<String>,
    pub timeout_secs: Option<u64>,
    pub max_attempts: Option<u32>,
    pub retry_base_ms: Option<u64>,
    pub retry_max_ms: Option<u64>,
    pub stream: Option<bool>,
    /// The answer's token limit when the agent sets none.
    pub max_tokens: Option<u32>,
    /// Cost per million input tokens.
    pub price_input: Option<f64>,
    /// Cost per million output tokens.
    pub price_output: Option<f64>,
}

impl ModelConfig {
    /// The `provider` key's value.
    pub fn provider(&self) -> &'static str {
        match self {
            ModelConfig::Scripted(_) => "scripted",
            ModelConfig::Openai(_) => "openai",
            ModelConfig::Anthropic(_) => "anthropic",
        }
    }

    /// What is wrong with the model's keys, as (key, message).
    fn check(&self) -> Result<(), (&'static str, String)> {
        let (price_input, price_output) = match self {
            ModelConfig::Scripted(m) => (m.price_input, m.price_output),
            ModelConfig::Openai(m) | ModelConfig::Anthropic(m) => {
                m.check(self.provider())?;
                (m.price_input, m.price_output)
            }
        };
        for (key, price) in [("price_input", price_input), ("price_output", price_output)] {
            if let Some(p) = price
                && !(p.is_finite() && p >= 0.0)
            {
                return Err((
                    key,
                    format!(
                        "`{p}` is not a price; write the cost per million tokens as a number of 0 or more, e.g. {key} = 3.0"
                    ),
                ));
            }
        }
        match (price_input, price_output) {
            (Some(_), None) => Err(("price_output", "is missing: a model with `price_input` needs `price_output` too (cost per million output tokens), or neither".into())),
            (None, Some(_)) => Err(("price_input", "is missing: a model with `price_output` needs `price_input` too (cost per million input tokens), or neither".into())),
            _ => Ok(()),
        }
    }
}

impl HttpModelConfig {
    fn check(&self, provider: &str) -> Result<(), (&'static str, String)> {
        match &self.base_url {
            None if provider == "openai" => {
                return Err(("base_url", "is missing; name the server, e.g. base_url = \"http://127.0.0.1:11434/v1\" for Ollama or \"https://api.openai.com/v1\"".into()));
            }
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                return Err((
                    "base_url",
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
            _ => {}
        }
        if self.model.trim().is_empty() {
            return Err((
                "model",
                "is empty; write the provider's name for the model, e.g. model = \"llama3.2\""
                    .into(),
            ));
        }
        match &self.api_key_env {
            Some(var) if var.is_empty() => {
                return Err((
                    "api_key_env",
                    "must name an environment variable, e.g. \"OPENAI_API_KEY\"".into(),
                ));
            }
            None if provider == "anthropic" => {
                return Err(("api_key_env", "is missing: the Messages API needs a key; name the variable that holds it, e.g. api_key_env = \"ANTHROPIC_API_KEY\"".into()));
            }
            _ => {}
        }
        let at_least_one = |key: &'static str, value: Option<u64>, example: &str| match value {
            Some(0) => Err((key, format!("must be at least 1, e.g. {key} = {example}"))),
            _ => Ok(()),
        };
        at_least_one("timeout_secs", self.timeout_secs, "120")?;
        at_least_one(
            "max_attempts",
            self.max_attempts.map(u64::from),
            "4 (1 means no retries)",
        )?;
        at_least_one("max_tokens", self.max_tokens.map(u64::from), "4096")?;
        let base = self
            .retry_base_ms
            .unwrap_or(crate::llm::retry::DEFAULT_RETRY_BASE_MS);
        let max = self
            .retry_max_ms
            .unwrap_or(crate::llm::retry::DEFAULT_RETRY_MAX_MS);
        if base > max {
            let key = if self.retry_max_ms.is_some() {
                "retry_max_ms"
            } else {
                "retry_base_ms"
            };
            return Err((
                key,
                format!(
                    "the longest wait ({max} ms) is shorter than the first ({base} ms); raise `retry_max_ms` or lower `retry_base_ms`"
                ),
            ));
        }
        Ok(())
    }
}

/// One `[tools.NAME]` table: a program the operator declares (`command`) or
/// one of relive's built-in tools (`builtin`) — exactly one of the two.
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
/// root = "workspaces"             # the default; run RUN works in root/RUN/ (relative to this file)
/// max_bytes = 1048576             # the default: largest file read or written
/// max_workspace_bytes = 268435456 # the default: total size of one run's workspace
/// timeout_secs = 30               # the default
/// ```
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

    /// What is wrong with the tool's keys, as (key, message).
    fn check(&self) -> Result<(), (&'static str, String)> {
        let at_least_one = |key: &'static str, value: Option<u64>, example: &str| match value {
            Some(0) => Err((key, format!("must be at least 1, e.g. {key} = {example}"))),
            _ => Ok(()),
        };
        at_least_one("timeout_secs", self.timeout_secs, "30")?;
        let builtin = match (&self.command, self.builtin) {
            (Some(_), Some(_)) => {
                return Err(("builtin", "cannot be used together with `command`: a tool is either a program (`command`) or a built-in tool (`builtin`); remove one of them".into()));
            }
            (None, None) => {
                return Err(("command", "is missing: give the tool a program, e.g. command = [\"python3\", \"tool.py\"], or use a built-in tool, e.g. builtin = \"http_get\" or builtin = \"files\"".into()));
            }
            (Some(command), None) => {
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
                        "must be a table holding a JSON schema, e.g. schema = { type = \"object\" }"
                            .into(),
                    ));
                }
                if let Some((key, _, _)) = self.kind_keys().into_iter().find(|(_, set, _)| *set) {
                    return Err((
                        key,
                        "applies only to built-in tools (`builtin`); remove it from this command tool"
                            .into(),
                    ));
                }
                return Ok(());
            }
            (None, Some(builtin)) => builtin,
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
        for (name, tool) in &self.tools {
            tool.check()
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
