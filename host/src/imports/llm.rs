//! `relive:agent/llm`: chat with a model the operator granted, journaled as
//! an external, idempotent call (the request is committed before it leaves
//! the host; the answer before the guest sees it).

use super::bindings::wit_llm;
use super::{HostState, decode, encode};
use crate::engine::{BatchCall, BoxFuture, Effect, Event, Observer, Phase, Stop};
use crate::journal::{Attempt, Completion, EntryKind};
use crate::llm::{CallContext, ChatRequest, ChatResponse, EventSink, LlmError, ProviderEvent};
use std::sync::{Arc, Mutex};

impl wit_llm::Host for HostState {
    async fn chat(
        &mut self,
        request: wit_llm::ChatRequest,
    ) -> wasmtime::Result<Result<wit_llm::ChatResponse, wit_llm::LlmError>> {
        let call = self.prepare_chat(request.into(), 0)?;
        let (text, price) = (call.request.clone(), call.price);
        let HostState {
            recorder, grants, ..
        } = self;
        let run_id = recorder.run_id().to_string();
        let observer = recorder.observer();
        let live = chat_live(grants, run_id, observer, call.call_index, &call);
        let result = recorder
            .external(EntryKind::Llm, &call.name, text, Effect::Idempotent, live)
            .await;
        let text = result.map_err(|stop| self.recorder.fail(stop))?;
        self.answer_chat(&text, price)
    }

    async fn chat_batch(
        &mut self,
        requests: Vec<wit_llm::ChatRequest>,
    ) -> wasmtime::Result<Vec<Result<wit_llm::ChatResponse, wit_llm::LlmError>>> {
        let calls = requests
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.prepare_chat(r.into(), i as u64))
            .collect::<wasmtime::Result<Vec<_>>>()?;
        let prices: Vec<_> = calls.iter().map(|c| c.price).collect();
        let HostState {
            recorder, grants, ..
        } = self;
        let run_id = recorder.run_id().to_string();
        let observer = recorder.observer();
        let batch = calls
            .iter()
            .map(|call| {
                let live = chat_live(
                    grants,
                    run_id.clone(),
                    observer.clone(),
                    call.call_index,
                    call,
                );
                BatchCall {
                    kind: EntryKind::Llm,
                    name: call.name.clone(),
                    request: call.request.clone(),
                    effect: Effect::Idempotent,
                    live: Some(Box::new(move |seq| Box::pin(live(seq)))),
                }
            })
            .collect();
        let texts = recorder
            .external_batch(batch)
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        texts
            .iter()
            .zip(prices)
            .map(|(text, price)| self.answer_chat(text, price))
            .collect()
    }
}

/// One chat request, ready for the journal.
struct ChatCall {
    /// The entry's name: the model the guest asked for (not what the grants
    /// resolve it to, so a replay does not depend on the config).
    name: String,
    /// The model that answers it.
    model: String,
    price: Option<crate::llm::Prices>,
    /// The request as the journal records it.
    request: String,
    parsed: ChatRequest,
    /// Which LLM call of the run this is (the scripted provider answers by it).
    call_index: u64,
}

impl HostState {
    /// Checks a request's size and names its entry; `offset` is its place in
    /// a batch.
    fn prepare_chat(&mut self, request: ChatRequest, offset: u64) -> wasmtime::Result<ChatCall> {
        let text = encode(&request);
        self.check_size("llm.chat request", text.len())?;
        let model = self.grants.model_name(&request);
        Ok(ChatCall {
            name: request.model.clone().unwrap_or_else(|| "default".into()),
            price: self.grants.prices.get(&model).copied(),
            model,
            request: text,
            parsed: request,
            call_index: self.recorder.llm_call_index() + offset,
        })
    }

    /// The guest's answer from a recorded response: decoded, its tokens and
    /// cost counted against the run's budgets.
    fn answer_chat(
        &mut self,
        text: &str,
        price: Option<crate::llm::Prices>,
    ) -> wasmtime::Result<Result<wit_llm::ChatResponse, wit_llm::LlmError>> {
        self.check_size("llm.chat response", text.len())?;
        let outcome: Result<ChatResponse, LlmError> = decode(&mut self.recorder, text)?;
        if let Ok(response) = &outcome {
            let tokens =
                u64::from(response.usage.input_tokens) + u64::from(response.usage.output_tokens);
            let cost = price.map_or(0.0, |p| p.cost(response.usage));
            self.spend(tokens, cost)?;
        }
        Ok(outcome.map(Into::into).map_err(Into::into))
    }

    /// Counts tokens and cost (of this run's calls, or of its children)
    /// against the run's budgets; over one, the run fails naming the key.
    pub(super) fn spend(&mut self, tokens: u64, cost: f64) -> wasmtime::Result<()> {
        self.spent_tokens += tokens;
        self.spent_cost += cost;
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
        Ok(())
    }
}

/// What a chat call does live, given its journal position: ask the granted
/// provider, with the call's idempotency key, streaming its events.
fn chat_live<'a>(
    grants: &'a super::Grants,
    run_id: String,
    observer: Option<Observer>,
    call_index: u64,
    call: &ChatCall,
) -> impl FnOnce(u64) -> BoxFuture<'a, Completion> + Send + 'a {
    let (name, model, request) = (call.name.clone(), call.model.clone(), call.parsed.clone());
    move |seq| {
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let ctx = CallContext {
            idempotency_key: crate::engine::idempotency_key(&run_id, seq),
            run_id,
            seq,
            call_index,
            events: Some(event_sink(seq, &name, observer, attempts.clone())),
        };
        Box::pin(async move {
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
        })
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
