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

/// What tokens cost at the configured prices, given per call or summed
/// per model: `(model as the journal names it, input, output)`. Prices are
/// linear, so sums cost what their parts do.
pub fn usage_cost<'a>(
    config: &crate::config::Config,
    agent: &str,
    usage: impl IntoIterator<Item = (&'a str, u64, u64)>,
) -> Option<f64> {
    let default = config.agent(agent).models.first().cloned();
    let mut total = None;
    for (name, input, output) in usage {
        let name = if name == "default" {
            default.clone()?
        } else {
            name.to_string()
        };
        let prices = Prices::of(config.models.get(&name)?)?;
        *total.get_or_insert(0.0) +=
            prices.input * input as f64 / 1e6 + prices.output * output as f64 / 1e6;
    }
    total
}
