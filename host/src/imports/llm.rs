//! `relive:agent/llm`: chat with a model the operator granted, journaled as
//! an external, idempotent call (the request is committed before it leaves
//! the host; the answer before the guest sees it).

use super::bindings::wit_llm;
use super::{HostState, decode, encode};
use crate::engine::{Effect, Event, Observer, Phase, Stop};
use crate::journal::{Attempt, Completion, EntryKind};
use crate::llm::{CallContext, ChatRequest, ChatResponse, EventSink, LlmError, ProviderEvent};
use std::sync::{Arc, Mutex};

impl wit_llm::Host for HostState {
    async fn chat(
        &mut self,
        request: wit_llm::ChatRequest,
    ) -> wasmtime::Result<Result<wit_llm::ChatResponse, wit_llm::LlmError>> {
        let request: ChatRequest = request.into();
        let text = encode(&request);
        self.check_size("llm.chat request", text.len())?;
        // The entry is named after what the guest asked for, not what the
        // grants resolve it to, so a replay does not depend on the config.
        let name = request.model.clone().unwrap_or_else(|| "default".into());
        let model = self.grants.model_name(&request);
        let price = self.grants.prices.get(&model).copied();
        let HostState {
            recorder, grants, ..
        } = self;
        let run_id = recorder.run_id().to_string();
        let call_index = recorder.llm_call_index();
        let observer = recorder.observer();
        let result = recorder
            .external(EntryKind::Llm, &name, text, Effect::Idempotent, |seq| {
                let attempts = Arc::new(Mutex::new(Vec::new()));
                let ctx = CallContext {
                    idempotency_key: crate::engine::idempotency_key(&run_id, seq),
                    run_id,
                    seq,
                    call_index,
                    events: Some(event_sink(seq, &name, observer, attempts.clone())),
                };
                let grants = &*grants;
                async move {
                    let outcome: Result<ChatResponse, LlmError> = match grants.provider(&model) {
                        Ok(provider) => provider.chat(&ctx, &request).await,
                        Err(denied) => Err(denied),
                    };
                    let attempts = std::mem::take(&mut *attempts.lock().expect("not poisoned"));
                    Completion {
                        usage: outcome.as_ref().ok().map(|r| crate::journal::Usage {
                            input_tokens: r.usage.input_tokens,
                            output_tokens: r.usage.output_tokens,
                        }),
                        response: encode(&outcome),
                        attempts,
                    }
                }
            })
            .await;
        let text = result.map_err(|stop| self.recorder.fail(stop))?;
        self.check_size("llm.chat response", text.len())?;
        let outcome: Result<ChatResponse, LlmError> = decode(&mut self.recorder, &text)?;
        if let Ok(response) = &outcome {
            self.spent_tokens +=
                u64::from(response.usage.input_tokens) + u64::from(response.usage.output_tokens);
            if let Some(price) = price {
                self.spent_cost += price.cost(response.usage);
            }
            if let Some(budget) = self.grants.policy.budget_cost
                && self.spent_cost > budget
            {
                let agent = &self.grants.agent;
                return Err(self.recorder.fail(Stop::Budget(format!(
                    "the run spent {:.6} on LLM calls, over its budget of {budget}; raise `budget_cost` under [agents.{agent}] in {}",
                    self.spent_cost, self.grants.config_source
                ))));
            }
            if let Some(budget) = self.grants.policy.budget_tokens
                && self.spent_tokens > budget
            {
                let agent = &self.grants.agent;
                return Err(self.recorder.fail(Stop::Budget(format!(
                    "the run used {} LLM tokens, over its budget of {budget}; raise `budget_tokens` under [agents.{agent}] in {}",
                    self.spent_tokens, self.grants.config_source
                ))));
            }
        }
        Ok(outcome.map(Into::into).map_err(Into::into))
    }
}

/// Forwards a call's provider events to the observer (streamed tokens,
/// retries) and keeps failed attempts for the journal entry.
fn event_sink(
    seq: u64,
    name: &str,
    observer: Option<Observer>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
) -> EventSink {
    let name = name.to_string();
    Arc::new(move |event: ProviderEvent| {
        let (phase, detail) = match event {
            ProviderEvent::Token(text) => (Phase::Token, text),
            ProviderEvent::Retrying {
                attempt,
                error,
                retry_in,
            } => {
                let detail = format!(
                    "attempt {attempt} failed ({error}); retrying in {} ms",
                    retry_in.as_millis()
                );
                attempts.lock().expect("not poisoned").push(Attempt {
                    attempt,
                    error: error.to_string(),
                    retry_in_ms: retry_in.as_millis() as u64,
                    at_ms: crate::journal::now_ms(),
                });
                (Phase::Retrying, detail)
            }
        };
        if let Some(observer) = &observer {
            observer(&Event {
                seq,
                kind: EntryKind::Llm,
                name: name.clone(),
                phase,
                duration: std::time::Duration::ZERO,
                usage: None,
                detail,
                request: None,
                response: None,
            });
        }
    })
}
