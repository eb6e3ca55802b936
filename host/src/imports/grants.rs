//! Grants: the models and tools the operator gave one agent, and the
//! policy its runs are held to. Built by the runtime; read by the imports.

use super::policy::RunPolicy;
use crate::config::Limits;
use crate::engine::Effect;
use crate::llm::{ChatRequest, LlmError, Provider, ToolSpec};
use crate::tools::{Tool, ToolError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The models and tools the operator granted to one agent.
#[derive(Clone)]
pub struct Grants {
    pub agent: String,
    /// Where the grants came from, for error messages.
    pub config_source: String,
    pub models: BTreeMap<String, Arc<dyn Provider>>,
    pub default_model: Option<String>,
    pub tools: BTreeMap<String, Arc<dyn Tool>>,
    /// Prices of the granted models that have them.
    pub prices: BTreeMap<String, crate::llm::Prices>,
    /// The agent's resource limits (from `policy`).
    pub limits: Limits,
    /// What shapes the run's journal: tools' idempotency and approval,
    /// limits, budgets. Today's configuration for a new run; the recorded
    /// one for a run that is resumed or replayed.
    pub policy: RunPolicy,
}

impl Grants {
    /// No models, no tools, default limits: what a replay-only run gets.
    pub fn none(agent: &str) -> Grants {
        let limits = Limits::defaults(agent);
        Grants {
            agent: agent.to_string(),
            config_source: "(none)".into(),
            models: BTreeMap::new(),
            default_model: None,
            tools: BTreeMap::new(),
            prices: BTreeMap::new(),
            policy: RunPolicy {
                version: crate::imports::POLICY_VERSION,
                tools: BTreeMap::new(),
                limits: limits.to_config(),
                budget_tokens: None,
                budget_cost: None,
                agents: Vec::new(),
            },
            limits,
        }
    }

    /// These grants under a run's recorded policy (see [`RunPolicy`]).
    pub fn with_policy(mut self, policy: RunPolicy) -> Grants {
        self.limits = policy.limits(&self.agent);
        self.policy = policy;
        self
    }

    /// Whether an interrupted call of `name` may run again: as the run's
    /// policy says, else as the tool says. An unknown tool does nothing
    /// outside, so it is safe to repeat.
    pub(super) fn effect_of(&self, name: &str) -> Effect {
        let idempotent = self
            .policy
            .idempotent(name)
            .or_else(|| self.tools.get(name).map(|t| t.idempotent()))
            .unwrap_or(true);
        if idempotent {
            Effect::Idempotent
        } else {
            Effect::NonIdempotent
        }
    }

    pub(super) fn model_name(&self, request: &ChatRequest) -> String {
        request
            .model
            .clone()
            .or_else(|| self.default_model.clone())
            .unwrap_or_default()
    }

    pub(super) fn provider(&self, name: &str) -> Result<&Arc<dyn Provider>, LlmError> {
        let agent = &self.agent;
        let source = &self.config_source;
        if self.models.is_empty() {
            return Err(LlmError::Denied(format!(
                "no model is granted to agent `{agent}`; add `models = [\"NAME\"]` under [agents.{agent}] in {source}"
            )));
        }
        self.models.get(name).ok_or_else(|| {
            LlmError::Denied(format!(
                "agent `{agent}` may not use model `{name}`; to allow it, add \"{name}\" to `models` under [agents.{agent}] in {source}"
            ))
        })
    }

    pub(super) fn tool(&self, name: &str) -> Result<&Arc<dyn Tool>, ToolError> {
        self.tools.get(name).ok_or_else(|| {
            let agent = &self.agent;
            let granted = if self.tools.is_empty() {
                "none".to_string()
            } else {
                self.tools.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            ToolError::NotFound(format!(
                "no tool `{name}` is granted to agent `{agent}` (granted: {granted}); to grant it, add \"{name}\" to `tools` under [agents.{agent}] in {}",
                self.config_source
            ))
        })
    }

    pub(super) fn tool_specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|t| t.spec()).collect()
    }
}
