//! What a call cost: token usage times the prices the operator configured
//! for the model (`price_input` and `price_output`, per million tokens, in
//! whatever currency the operator thinks in). A model without prices has no
//! cost, not a cost of zero, so that a budget can tell the two apart.

use super::Usage;
use crate::config::ModelConfig;

/// The prices of one model, per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prices {
    /// Cost of a million input (prompt) tokens.
    pub input: f64,
    /// Cost of a million output (completion) tokens.
    pub output: f64,
}

impl Prices {
    /// The prices configured for `model`, if any (the config's validation
    /// makes sure both or neither are set, and neither is negative).
    pub fn of(model: &ModelConfig) -> Option<Prices> {
        let (input, output) = match model {
            ModelConfig::Scripted(m) => (m.price_input, m.price_output),
            ModelConfig::Openai(m) | ModelConfig::Anthropic(m) => (m.price_input, m.price_output),
        };
        match (input, output) {
            (None, None) => None,
            (input, output) => Some(Prices {
                input: input.unwrap_or(0.0),
                output: output.unwrap_or(0.0),
            }),
        }
    }

    /// The cost of `usage` at these prices.
    pub fn cost(&self, usage: Usage) -> f64 {
        (f64::from(usage.input_tokens) * self.input + f64::from(usage.output_tokens) * self.output)
            / 1_000_000.0
    }
}

/// The cost of `usage` on `model`; `None` when the model has no prices.
///
/// ```
/// # use relive::config::{ModelConfig, ScriptedModelConfig};
/// # use relive::llm::{Usage, cost};
/// let model = ModelConfig::Scripted(ScriptedModelConfig {
///     script: "script.json".into(),
///     price_input: Some(3.0),
///     price_output: Some(15.0),
/// });
/// let usage = Usage { input_tokens: 1_000, output_tokens: 100 };
/// assert_eq!(cost(&model, usage), Some(0.0045));
/// ```
pub fn cost(model: &ModelConfig, usage: Usage) -> Option<f64> {
    Prices::of(model).map(|prices| prices.cost(usage))
}

/// What a run's LLM calls cost at the configured prices; `None` when a
/// model it used has no prices (or no LLM call was made).
pub fn run_cost(
    config: &crate::config::Config,
    agent: &str,
    entries: &[crate::journal::Entry],
) -> Option<f64> {
    let default = config.agent(agent).models.first().cloned();
    let mut total = None;
    for e in entries
        .iter()
        .filter(|e| e.kind == crate::journal::EntryKind::Llm)
    {
        let Some(usage) = e.usage else { continue };
        let name = if e.name == "default" {
            default.clone()?
        } else {
            e.name.clone()
        };
        let prices = Prices::of(config.models.get(&name)?)?;
        *total.get_or_insert(0.0) += prices.cost(crate::llm::Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
        });
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::{Path, PathBuf};

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("relive.toml"), PathBuf::from(".")).map_err(|e| e.to_string())
    }

    const OPENAI: &str =
        "[models.m]\nprovider = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \"x\"\n";

    #[test]
    fn prices_are_parsed_and_give_the_cost_per_million_tokens() {
        let config = parse(&format!("{OPENAI}price_input = 3\nprice_output = 15.5\n")).unwrap();
        let model = &config.models["m"];
        assert_eq!(
            Prices::of(model),
            Some(Prices {
                input: 3.0,
                output: 15.5
            })
        );
        let usage = Usage {
            input_tokens: 2_000_000,
            output_tokens: 100_000,
        };
        assert_eq!(cost(model, usage), Some(6.0 + 1.55));
        let free = parse(&format!("{OPENAI}price_input = 0\nprice_output = 0\n")).unwrap();
        assert_eq!(cost(&free.models["m"], usage), Some(0.0));
        let unpriced = parse(OPENAI).unwrap();
        assert_eq!(cost(&unpriced.models["m"], usage), None);
    }

    #[test]
    fn negative_or_lone_prices_name_the_key() {
        let err = parse(&format!("{OPENAI}price_input = -1\nprice_output = 1\n")).unwrap_err();
        assert!(
            err.contains("models.m.price_input") && err.contains("`-1`"),
            "{err}"
        );
        let err = parse(&format!("{OPENAI}price_input = 1\nprice_output = nan\n")).unwrap_err();
        assert!(
            err.contains("models.m.price_output") && err.contains("`NaN`"),
            "{err}"
        );
        let err = parse(&format!("{OPENAI}price_input = 1\n")).unwrap_err();
        assert!(
            err.contains("models.m.price_output") && err.contains("or neither"),
            "{err}"
        );
        let err = parse(&format!("{OPENAI}price_output = 1\n")).unwrap_err();
        assert!(err.contains("models.m.price_input"), "{err}");
    }
}
