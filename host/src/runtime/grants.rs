//! Building an agent's grants from the configuration: its providers (with
//! their HTTP clients), its tools, its limits and its policy.

use crate::config::{Config, ModelConfig};
use crate::imports::{Grants, RunPolicy, ToolPolicy};
use crate::llm::Provider;
use crate::tools::Tool;
use anyhow::Context as _;
use std::sync::Arc;

/// Builds the providers and tools `agent` was granted in `config`.
pub fn build_grants(config: &Config, agent: &str) -> anyhow::Result<Grants> {
    let grants = config.agent(agent);
    let mut models: std::collections::BTreeMap<String, Arc<dyn Provider>> = Default::default();
    let mut prices = std::collections::BTreeMap::new();
    for name in &grants.models {
        let model: &ModelConfig = &config.models[name];
        if let Some(p) = crate::llm::Prices::of(model) {
            prices.insert(name.clone(), p);
        }
        let provider: Arc<dyn Provider> = crate::llm::from_config(name, model, config)
            .with_context(|| format!("model `{name}`"))?;
        models.insert(name.clone(), provider);
    }
    let mut tools: std::collections::BTreeMap<String, Arc<dyn Tool>> = Default::default();
    for name in &grants.tools {
        tools.insert(
            name.clone(),
            crate::tools::from_config(name, &config.tools[name], &config.base_dir),
        );
    }
    let limits = config.limits(agent);
    let policy = RunPolicy {
        version: crate::imports::POLICY_VERSION,
        tools: grants
            .tools
            .iter()
            .map(|name| {
                let tool = ToolPolicy {
                    idempotent: tools[name].idempotent(),
                    approval: config.tools[name].approval == crate::config::ToolApproval::Required,
                };
                (name.clone(), tool)
            })
            .collect(),
        limits: limits.to_config(),
        budget_tokens: grants.budget_tokens,
        budget_cost: grants.budget_cost,
        agents: grants.agents.clone(),
    };
    Ok(Grants {
        agent: agent.to_string(),
        config_source: config.describe_source(),
        default_model: grants.models.first().cloned(),
        prices,
        limits,
        models,
        tools,
        policy,
    })
}
