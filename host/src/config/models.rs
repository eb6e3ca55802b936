//! `[models.NAME]`: the LLM providers an operator configures, and their
//! checks.

use serde::Deserialize;
use std::path::PathBuf;

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
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
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
    pub(super) fn check(&self, provider: &str) -> Result<(), (&'static str, String)> {
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
        self.check_numbers()
    }

    /// Timeouts, attempts, tokens and retry waits.
    fn check_numbers(&self) -> Result<(), (&'static str, String)> {
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
