//! LLM providers: the one place where relive talks to language models.
//!
//! The guest sees the WIT types of `relive:agent/llm`; the host converts them
//! into the serde types below, which are also what the journal stores. A
//! [`Provider`] turns a [`ChatRequest`] into a [`ChatResponse`] — live only:
//! recording and replaying are done once, by the replay engine, around every
//! provider alike.
//!
//! Providers: [`scripted`] (answers from a file), [`openai`] (any
//! OpenAI-compatible chat-completions server) and [`anthropic`] (the Messages
//! API). The network ones share [`http`] (client, timeouts, error messages),
//! [`sse`] (streamed answers) and [`retry`] (backoff, `Retry-After`);
//! [`pricing`] turns token usage into cost. [`from_config`] builds the
//! provider a `[models.NAME]` table describes.

pub mod anthropic;
pub mod http;
pub mod openai;
pub mod pricing;
pub mod retry;
pub mod scripted;
pub mod sse;
#[cfg(test)]
mod test_server;

pub use pricing::{Prices, cost};

use crate::config::{Config, ModelConfig};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, so providers can live behind `dyn Provider`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who wrote a message.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call requested by the model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as a JSON document.
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A tool offered to the model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments object, as a JSON document.
    pub parameters: String,
}

/// What the guest asked the model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The operator's name for the model (a key of `[models]` in relive.toml);
    /// `None` selects the agent's default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// Why the model stopped.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    ToolCalls,
    Length,
    Other,
}

/// Tokens used by one call.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// The model's answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChatResponse {
    pub message: Message,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// The model that answered, as reported by the provider.
    pub model: String,
}

/// A failed call, as the guest sees it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum LlmError {
    /// The agent may not use the model, or none is configured.
    #[error("denied: {0}")]
    Denied(String),
    /// The provider rejected the request (4xx) or the answer was malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The provider could not be reached or kept failing.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Something that happens during a call, reported as it happens (not
/// journaled as such: the journal records the final result, and the failed
/// attempts as metadata of the entry).
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    /// A piece of the answer's text, as the provider streams it. When an
    /// attempt fails half-way, its tokens are followed by [`Retrying`] and
    /// then by the next attempt's tokens from the start of the answer.
    ///
    /// [`Retrying`]: ProviderEvent::Retrying
    Token(String),
    /// Attempt number `attempt` (from 1) failed with `error`; the next one
    /// starts after `retry_in`.
    Retrying {
        attempt: u32,
        error: LlmError,
        retry_in: std::time::Duration,
    },
}

/// Receives [`ProviderEvent`]s.
pub type EventSink = std::sync::Arc<dyn Fn(ProviderEvent) + Send + Sync>;

/// Where a call sits in its run; providers use it for idempotency keys and
/// (the scripted provider) to pick the reply.
#[derive(Clone)]
pub struct CallContext {
    pub run_id: String,
    /// Journal position of this call.
    pub seq: u64,
    /// How many LLM calls this run made before this one (0 for the first).
    pub call_index: u64,
    /// Identical each time the same call is re-issued after a crash.
    pub idempotency_key: String,
    /// Where streamed tokens and retries are reported, if anywhere.
    pub events: Option<EventSink>,
}

impl CallContext {
    /// Reports `event` to the sink, if there is one.
    pub fn emit(&self, event: ProviderEvent) {
        if let Some(sink) = &self.events {
            sink(event);
        }
    }
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("run_id", &self.run_id)
            .field("seq", &self.seq)
            .field("call_index", &self.call_index)
            .field("idempotency_key", &self.idempotency_key)
            .field("events", &self.events.as_ref().map(|_| "<sink>"))
            .finish()
    }
}

/// A configured language model, live.
pub trait Provider: Send + Sync {
    /// Sends `request` to the model and returns its answer.
    fn chat<'a>(
        &'a self,
        ctx: &'a CallContext,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>>;
}

/// A configured model that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The script of a scripted model is unusable.
    #[error("key models.{model}.script: {error}")]
    Script {
        model: String,
        error: scripted::ScriptError,
    },
    /// The variable that should hold the API key is not set.
    #[error(
        "models.{model}.api_key_env names the environment variable {var}, which is not set; {fix}"
    )]
    MissingKey {
        model: String,
        var: String,
        fix: &'static str,
    },
}

/// The provider that `[models.NAME]` of `config` describes; the API key is
/// read from the environment here, and only here.
pub fn from_config(
    name: &str,
    model: &ModelConfig,
    config: &Config,
) -> Result<Arc<dyn Provider>, SetupError> {
    let key = |var: &Option<String>, fix| match var {
        None => Ok(None),
        Some(var) => std::env::var(var)
            .map(Some)
            .map_err(|_| SetupError::MissingKey {
                model: name.to_string(),
                var: var.clone(),
                fix,
            }),
    };
    Ok(match model {
        ModelConfig::Scripted(m) => Arc::new(
            scripted::ScriptedProvider::from_file(&config.resolve(&m.script)).map_err(|error| {
                SetupError::Script {
                    model: name.to_string(),
                    error,
                }
            })?,
        ),
        ModelConfig::Openai(m) => {
            let key = key(&m.api_key_env, "export it or remove the key")?;
            let settings = http::HttpSettings::from_config(m, "", key);
            Arc::new(openai::OpenAiProvider::new(settings))
        }
        ModelConfig::Anthropic(m) => {
            let key = key(&m.api_key_env, "export it; the Messages API needs a key")?;
            let settings = http::HttpSettings::from_config(m, anthropic::DEFAULT_BASE_URL, key);
            Arc::new(anthropic::AnthropicProvider::new(settings))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("relive.toml"), PathBuf::from(".")).unwrap()
    }

    #[test]
    fn settings_take_the_documented_defaults() {
        let c = config(
            "[models.a]\nprovider = \"anthropic\"\nmodel = \"claude\"\napi_key_env = \"K\"\n",
        );
        let ModelConfig::Anthropic(m) = &c.models["a"] else {
            panic!()
        };
        let s = http::HttpSettings::from_config(m, anthropic::DEFAULT_BASE_URL, None);
        assert_eq!(s.base_url, "https://api.anthropic.com");
        assert_eq!(
            s.timeout,
            Duration::from_secs(crate::config::DEFAULT_LLM_TIMEOUT_SECS)
        );
        assert_eq!(s.retry, retry::RetryPolicy::default());
        assert_eq!(s.retry.max_attempts, 4);
        assert_eq!(s.retry.base_delay, Duration::from_millis(500));
        assert_eq!(s.retry.max_delay, Duration::from_secs(30));
        assert!(s.stream);
        assert_eq!(s.max_tokens, None, "the provider applies its own default");

        let c = config(
            "[models.o]\nprovider = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\ntimeout_secs = 7\nmax_attempts = 1\nretry_base_ms = 20\nretry_max_ms = 40\nstream = false\nmax_tokens = 99\n",
        );
        let ModelConfig::Openai(m) = &c.models["o"] else {
            panic!()
        };
        let s = http::HttpSettings::from_config(m, "", Some("sk-secret".into()));
        assert_eq!(
            (s.base_url.as_str(), s.model.as_str()),
            ("http://h/v1", "m")
        );
        assert_eq!(s.timeout, Duration::from_secs(7));
        let retry = retry::RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
        };
        assert_eq!((s.retry, s.stream, s.max_tokens), (retry, false, Some(99)));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("sk-secret") && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn a_missing_key_variable_is_named_with_the_fix() {
        let var = "RELIVE_TEST_SURELY_UNSET_KEY";
        let c = config(&format!(
            "[models.o]\nprovider = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\napi_key_env = \"{var}\"\n\
             [models.a]\nprovider = \"anthropic\"\nmodel = \"m\"\napi_key_env = \"{var}\"\n"
        ));
        let err = from_config("o", &c.models["o"], &c)
            .err()
            .unwrap()
            .to_string();
        let expected = format!(
            "models.o.api_key_env names the environment variable {var}, which is not set; export it or remove the key"
        );
        assert_eq!(err, expected);
        let err = from_config("a", &c.models["a"], &c)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.ends_with("export it; the Messages API needs a key"),
            "{err}"
        );
        let keyless = config(
            "[models.o]\nprovider = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \"m\"\n",
        );
        assert!(from_config("o", &keyless.models["o"], &keyless).is_ok());
    }
}
