//! Resource limits of a run (DESIGN §6), with safe defaults, global
//! overrides under `[limits]` and per-agent ones under `[agents.NAME.limits]`.
//!
//! Every limit has a name; hitting it fails the run with an error that
//! quotes the limit, its value and the key that raises it.

use serde::{Deserialize, Serialize};

/// Largest linear memory of a guest, by default.
pub const DEFAULT_MEMORY_MIB: u64 = 512;
/// Guest instructions (wasmtime fuel) a run may execute, by default: tens of
/// seconds of pure compute. Time spent waiting for an LLM or a tool does
/// not use fuel.
pub const DEFAULT_FUEL: u64 = 20_000_000_000;
/// Largest argument or result of one host call, by default.
pub const DEFAULT_MAX_CALL_BYTES: u64 = 16 << 20;
/// Host calls (journal entries) one run may make, by default.
pub const DEFAULT_MAX_HOST_CALLS: u64 = 1_000_000;
/// Bytes of journal (requests and responses) one run may write, by default.
pub const DEFAULT_MAX_JOURNAL_MIB: u64 = 256;
/// Largest component file, by default.
pub const DEFAULT_MAX_COMPONENT_MIB: u64 = 256;
/// Fuel between two yields to the async runtime, so a busy guest cannot
/// starve other runs in the same process.
pub const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// `[limits]` or `[agents.NAME.limits]` as written.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub memory_mib: Option<u64>,
    pub fuel: Option<u64>,
    pub max_call_bytes: Option<u64>,
    pub max_host_calls: Option<u64>,
    pub max_journal_mib: Option<u64>,
    pub max_component_mib: Option<u64>,
}

/// The limits in force for one agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    agent: String,
    pub memory_bytes: usize,
    pub fuel: u64,
    pub max_call_bytes: usize,
    pub max_host_calls: u64,
    pub max_journal_bytes: u64,
    pub max_component_bytes: usize,
}

impl Limits {
    /// The agent's overrides, then the global ones, then the defaults.
    pub fn resolve(global: &LimitsConfig, agent_limits: &LimitsConfig, agent: &str) -> Limits {
        let pick = |a: Option<u64>, g: Option<u64>, d: u64| a.or(g).unwrap_or(d);
        Limits {
            agent: agent.to_string(),
            memory_bytes: (pick(
                agent_limits.memory_mib,
                global.memory_mib,
                DEFAULT_MEMORY_MIB,
            ) << 20) as usize,
            fuel: pick(agent_limits.fuel, global.fuel, DEFAULT_FUEL),
            max_call_bytes: pick(
                agent_limits.max_call_bytes,
                global.max_call_bytes,
                DEFAULT_MAX_CALL_BYTES,
            ) as usize,
            max_host_calls: pick(
                agent_limits.max_host_calls,
                global.max_host_calls,
                DEFAULT_MAX_HOST_CALLS,
            ),
            max_journal_bytes: pick(
                agent_limits.max_journal_mib,
                global.max_journal_mib,
                DEFAULT_MAX_JOURNAL_MIB,
            )
            .saturating_mul(1 << 20),
            max_component_bytes: (pick(
                agent_limits.max_component_mib,
                global.max_component_mib,
                DEFAULT_MAX_COMPONENT_MIB,
            ) << 20) as usize,
        }
    }

    /// The defaults, for an agent without configuration.
    pub fn defaults(agent: &str) -> Limits {
        Self::resolve(&LimitsConfig::default(), &LimitsConfig::default(), agent)
    }

    /// Every limit written out, as a run's policy records them: resolved
    /// against this snapshot later, a limit added to relive since then takes
    /// its default.
    pub fn to_config(&self) -> LimitsConfig {
        LimitsConfig {
            memory_mib: Some((self.memory_bytes >> 20) as u64),
            fuel: Some(self.fuel),
            max_call_bytes: Some(self.max_call_bytes as u64),
            max_host_calls: Some(self.max_host_calls),
            max_journal_mib: Some(self.max_journal_bytes >> 20),
            max_component_mib: Some((self.max_component_bytes >> 20) as u64),
        }
    }

    /// Where to raise limit `key`, for error messages.
    pub fn fix(&self, key: &str) -> String {
        format!(
            "raise `{key}` under [agents.{}.limits] (or [limits]) in relive.toml",
            self.agent
        )
    }

    /// The error for a host-call argument or result over the limit.
    pub fn check_call_bytes(&self, what: &str, len: usize) -> Result<(), String> {
        if len > self.max_call_bytes {
            return Err(format!(
                "{what} is {len} bytes, over the limit of {} bytes per host call; {}",
                self.max_call_bytes,
                self.fix("max_call_bytes")
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_overrides_global_overrides_default() {
        let global = LimitsConfig {
            fuel: Some(5),
            memory_mib: Some(64),
            ..Default::default()
        };
        let agent = LimitsConfig {
            fuel: Some(7),
            ..Default::default()
        };
        let l = Limits::resolve(&global, &agent, "a");
        assert_eq!((l.fuel, l.memory_bytes), (7, 64 << 20));
        assert_eq!(l.max_host_calls, DEFAULT_MAX_HOST_CALLS);
        let err = l
            .check_call_bytes("tools.call arguments", (16 << 20) + 1)
            .unwrap_err();
        assert!(
            err.contains("max_call_bytes") && err.contains("[agents.a.limits]"),
            "{err}"
        );
    }
}
