//! Building an agent's grants from the configuration: its providers (with
//! their HTTP clients), its tools, its limits and its policy.
//!
//! The tools of MCP servers are added apart ([`grant_mcp_tools`]): a new
//! run asks each server for its tools, while a resumed run takes them from
//! its recorded policy, so that its replay does not contact the server.

use crate::config::{Config, ModelConfig};
use crate::imports::{Grants, RunPolicy, ToolPolicy};
use crate::llm::Provider;
use crate::tools::Tool;
use crate::tools::mcp::{McpPool, McpTool, approval_of, idempotent_of, server_of};
use anyhow::{Context as _, bail};
use std::sync::Arc;

/// Builds the providers and tools `agent` was granted in `config`, but for
/// the tools of MCP servers (see [`grant_mcp_tools`]).
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
    for name in grants
        .tools
        .iter()
        .filter(|t| config.tools[*t].mcp.is_none())
    {
        tools.insert(
            name.clone(),
            crate::tools::from_config(name, &config.tools[name], &config.base_dir),
        );
    }
    let limits = config.limits(agent);
    let policy = RunPolicy {
        version: crate::imports::POLICY_VERSION,
        tools: tools
            .keys()
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

/// Adds the tools of the MCP servers `grants.agent` was granted: for a new
/// run (`recorded` is `None`) those each server lists (all, or those its
/// `allow` names), with their idempotency and approval in the policy; for
/// a resumed run those its recorded policy names, without contacting the
/// servers (a call made live connects then).
pub async fn grant_mcp_tools(
    grants: &mut Grants,
    config: &Config,
    pool: &McpPool,
    recorded: Option<&RunPolicy>,
) -> anyhow::Result<()> {
    let servers = config.agent(&grants.agent).tools;
    for name in servers.iter().filter(|t| config.tools[*t].mcp.is_some()) {
        let table = &config.tools[name];
        let server = pool.server(name, table, &config.base_dir);
        if let Some(policy) = recorded {
            for (exposed, tool) in &policy.tools {
                if server_of(exposed) == Some(name.as_str()) {
                    let t = McpTool::new(server.clone(), exposed, None, tool.idempotent);
                    grants.tools.insert(exposed.clone(), Arc::new(t));
                }
            }
            continue;
        }
        let granted = server
            .granted()
            .await
            .with_context(|| format!("the tools of [tools.{name}]"))?;
        for (exposed, tool) in granted {
            if grants.tools.contains_key(&exposed) {
                bail!(
                    "two tools of agent `{}` are named `{exposed}`: [tools.{exposed}] and the tool `{}` of the MCP server [tools.{name}]; rename [tools.{exposed}]",
                    grants.agent,
                    tool.name
                );
            }
            let (idempotent, _) = idempotent_of(&tool, table);
            let policy = ToolPolicy {
                idempotent,
                approval: approval_of(&tool.name, table),
            };
            let t = McpTool::new(server.clone(), &exposed, Some(&tool), idempotent);
            grants.tools.insert(exposed.clone(), Arc::new(t));
            grants.policy.tools.insert(exposed, policy);
        }
    }
    Ok(())
}
