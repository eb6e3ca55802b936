//! A run's policy: what shapes its journal and its crash policy, recorded
//! when the run starts and used whenever it is resumed or replayed.
//!
//! Which tools are idempotent decides whether an interrupted call is run
//! again or makes the run uncertain; which tools need approval decides
//! whether an approval entry comes before the call; the limits and budgets
//! decide where the run stops. Reading them from today's relive.toml would
//! let an edit of the file make an old run diverge, or change how its
//! in-flight call is treated, so they are fixed with the run (issue 12.7).
//! The rest of the configuration — commands, keys, URLs — is how a call is
//! made, not what the journal holds, and is read at each resume.

use crate::config::{Limits, LimitsConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The policy format written by this relive.
pub const POLICY_VERSION: u32 = 1;

/// What a run's journal and crash policy depend on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunPolicy {
    pub version: u32,
    /// The tools granted when the run started.
    pub tools: BTreeMap<String, ToolPolicy>,
    /// Every limit, written out (a limit added since takes its default).
    pub limits: LimitsConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_cost: Option<f64>,
    /// Agents a run may start as child runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
}

/// How calls of one tool are journaled.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolPolicy {
    /// Safe to run again after a crash interrupted it.
    pub idempotent: bool,
    /// A person approves each call first (an approval entry before it).
    pub approval: bool,
}

impl RunPolicy {
    /// Reads a recorded policy; `None` if it is absent or of a format this
    /// relive does not know (then today's configuration applies).
    pub fn from_record(value: Option<&serde_json::Value>) -> Option<RunPolicy> {
        let value = value?;
        match serde_json::from_value::<RunPolicy>(value.clone()) {
            Ok(policy) if policy.version <= POLICY_VERSION => Some(policy),
            Ok(policy) => {
                eprintln!(
                    "relive: warning: the run's policy has format {}, newer than this relive knows ({POLICY_VERSION}); using the configuration instead",
                    policy.version
                );
                None
            }
            Err(e) => {
                eprintln!(
                    "relive: warning: the run's recorded policy does not read ({e}); using the configuration instead"
                );
                None
            }
        }
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("policies serialise")
    }

    /// The limits the policy fixes, for `agent`.
    pub fn limits(&self, agent: &str) -> Limits {
        Limits::resolve(&self.limits, &LimitsConfig::default(), agent)
    }

    /// Whether a call of `tool` is asked to a person first.
    pub fn needs_approval(&self, tool: &str) -> bool {
        self.tools.get(tool).is_some_and(|t| t.approval)
    }

    /// Whether a run may start `agent` as a child run.
    pub fn may_start(&self, agent: &str) -> bool {
        self.agents.iter().any(|a| a == agent)
    }

    /// Whether `tool` is idempotent under this policy, if it knows the tool.
    pub fn idempotent(&self, tool: &str) -> Option<bool> {
        self.tools.get(tool).map(|t| t.idempotent)
    }
}
