//! The host side of every import the guest can call, each implemented once
//! as "what it does live" and handed to the [`Recorder`], which records,
//! replays and checks it.
//!
//! Store state is split by capability: [`Grants`] (which models and tools
//! this agent may use), the [`Recorder`] (journal position), the WASI
//! context and the limits.

use crate::bindings::{wit_llm, wit_log, wit_tools, wit_types};
use crate::journal::{Attempt, Completion, EntryKind};
use crate::limits::{GuestLimiter, Limits};
use crate::llm::{
    CallContext, ChatRequest, ChatResponse, EventSink, LlmError, Provider, ProviderEvent, ToolSpec,
};
use crate::policy::RunPolicy;
use crate::replay::{Effect, Event, Observer, Phase, Recorder, Stop};
use crate::sandbox::MAX_RANDOM_BYTES;
use crate::tools::{Tool, ToolContext, ToolError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use wasmtime::bail;
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::clocks::WasiClocksCtxView;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::bindings::random::random;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

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
                version: crate::policy::POLICY_VERSION,
                tools: BTreeMap::new(),
                limits: limits.to_config(),
                budget_tokens: None,
                budget_cost: None,
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
    fn effect_of(&self, name: &str) -> Effect {
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

    fn model_name(&self, request: &ChatRequest) -> String {
        request
            .model
            .clone()
            .or_else(|| self.default_model.clone())
            .unwrap_or_default()
    }

    fn provider(&self, name: &str) -> Result<&Arc<dyn Provider>, LlmError> {
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

    fn tool(&self, name: &str) -> Result<&Arc<dyn Tool>, ToolError> {
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

    fn tool_specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|t| t.spec()).collect()
    }
}

/// Everything a running guest's store holds.
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub recorder: Recorder,
    pub grants: Grants,
    pub limiter: GuestLimiter,
    clock: GuestClock,
    /// LLM tokens used by this run so far (replayed calls included).
    spent_tokens: u64,
    /// What those tokens cost, at the configured prices.
    spent_cost: f64,
}

impl HostState {
    pub fn new(wasi: WasiCtx, mut recorder: Recorder, grants: Grants) -> Self {
        recorder.set_limits(grants.limits.clone());
        HostState {
            wasi,
            table: ResourceTable::new(),
            recorder,
            limiter: GuestLimiter::new(grants.limits.clone()),
            grants,
            clock: GuestClock::default(),
            spent_tokens: 0,
            spent_cost: 0.0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// [`HasData`] marker for the imports implemented directly on [`HostState`].
pub struct Host;

impl HasData for Host {
    type Data<'a> = &'a mut HostState;
}

impl HostState {
    /// Refuses a host-call argument or result over the agent's limit,
    /// failing the run with the limit and its key.
    pub(crate) fn check_size(&mut self, what: &str, len: usize) -> wasmtime::Result<()> {
        match self.grants.limits.check_call_bytes(what, len) {
            Ok(()) => Ok(()),
            Err(message) => Err(self.recorder.fail(Stop::Limit(message))),
        }
    }
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("journal values serialise")
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    recorder: &mut Recorder,
    text: &str,
) -> wasmtime::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        let seq = recorder.next_seq().saturating_sub(1);
        recorder.fail(Stop::Damaged {
            seq,
            message: format!("recorded response does not decode: {e}"),
        })
    })
}

impl wit_types::Host for HostState {}

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
                    idempotency_key: crate::replay::idempotency_key(&run_id, seq),
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

impl wit_tools::Host for HostState {
    async fn call(
        &mut self,
        name: String,
        arguments: String,
    ) -> wasmtime::Result<Result<String, wit_tools::ToolError>> {
        self.check_size("tools.call arguments", arguments.len())?;
        let mut tool = self.grants.tool(&name).cloned();
        let mut arguments = arguments;
        // Decided by the run's policy, not by whether the tool is granted
        // now: a replay asks the same approvals the run asked.
        if self.grants.policy.needs_approval(&name) {
            // The operator wants a person to approve each call: ask first
            // (a journaled wait); a rejection becomes the tool's error.
            let answer = self
                .ask_approval(&format!("tool:{name}"), arguments.clone())
                .await?;
            match answer {
                crate::host_waits::ApprovalAnswer::Approved { details } => {
                    if let Some(edited) = details {
                        arguments = edited;
                    }
                }
                crate::host_waits::ApprovalAnswer::Rejected { reason } => {
                    tool = Err(ToolError::Failed(format!(
                        "a person rejected this call of tool `{name}`: {reason}"
                    )));
                }
            }
        }
        let effect = match &tool {
            Ok(_) => self.grants.effect_of(&name),
            // An unknown or refused tool does nothing outside.
            Err(_) => Effect::Idempotent,
        };
        // Checked once, without building a value: every replayed call pays it.
        let invalid = serde_json::from_str::<serde::de::IgnoredAny>(&arguments).err();
        let request = if invalid.is_none() {
            arguments.clone()
        } else {
            encode(&arguments)
        };
        let run_id = self.recorder.run_id().to_string();
        let max_result_bytes = self.grants.limits.max_call_bytes;
        let tool_name = name.clone();
        let result = self
            .recorder
            .external(EntryKind::Tool, &name, request, effect, |seq| async move {
                let outcome: Result<String, ToolError> = match tool {
                    Err(e) => Err(e),
                    Ok(tool) => {
                        if let Some(e) = invalid {
                            Err(ToolError::InvalidArguments(format!(
                                "arguments of tool `{tool_name}` are not valid JSON: {e}"
                            )))
                        } else {
                            let ctx = ToolContext {
                                idempotency_key: crate::replay::idempotency_key(&run_id, seq),
                                run_id,
                                seq,
                                max_result_bytes,
                            };
                            tool.call(&ctx, &arguments).await
                        }
                    }
                };
                Completion {
                    response: encode(&outcome),
                    ..Completion::default()
                }
            })
            .await;
        let text = result.map_err(|stop| self.recorder.fail(stop))?;
        self.check_size("tools.call result", text.len())?;
        let outcome: Result<String, ToolError> = decode(&mut self.recorder, &text)?;
        Ok(outcome.map_err(Into::into))
    }

    async fn list(&mut self) -> wasmtime::Result<Vec<wit_types::ToolSpec>> {
        let specs = self.grants.tool_specs();
        let text = self
            .recorder
            .local(EntryKind::ToolList, "list", "null".into(), || {
                encode(&specs)
            })
            .map_err(|stop| self.recorder.fail(stop))?;
        let specs: Vec<ToolSpec> = decode(&mut self.recorder, &text)?;
        Ok(specs.into_iter().map(Into::into).collect())
    }
}

impl wit_log::Host for HostState {
    async fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        self.check_size("log message", message.len())?;
        let request = encode(&serde_json::json!({ "message": message }));
        self.recorder
            .local(EntryKind::Log, level.as_str(), request, || "null".into())
            .map_err(|stop| self.recorder.fail(stop))?;
        // A guest that logs faster than the journal commits waits here.
        self.recorder
            .relieve()
            .await
            .map_err(|stop| self.recorder.fail(stop))?;
        Ok(())
    }
}

/// The guest's monotonic clock: host time plus an offset chosen so that it
/// never runs backwards across a resume (a new process has a new time base).
#[derive(Default)]
struct GuestClock {
    /// The last value the guest saw, replayed or live.
    last: u64,
    /// Added to host time for live reads; fixed at the first live read.
    offset: Option<u64>,
}

/// Host monotonic time in nanoseconds since the first use in this process.
fn host_monotonic_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    // Start at one second so a guest never sees zero.
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1_000_000_000
}

impl GuestClock {
    fn live(&mut self) -> u64 {
        let host = host_monotonic_ns();
        let offset = *self
            .offset
            .get_or_insert_with(|| self.last.saturating_sub(host));
        (host + offset).max(self.last)
    }
}

impl wall_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let text = self
            .recorder
            .local(EntryKind::Clock, "wall", "null".into(), || {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                encode(&(now.as_secs(), now.subsec_nanos()))
            })
            .map_err(|stop| self.recorder.fail(stop))?;
        let (seconds, nanoseconds): (u64, u32) = decode(&mut self.recorder, &text)?;
        Ok(wall_clock::Datetime {
            seconds,
            nanoseconds,
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: 0,
            nanoseconds: 1,
        })
    }
}

impl monotonic_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        let HostState {
            recorder, clock, ..
        } = self;
        let text = recorder
            .local(EntryKind::Clock, "monotonic", "null".into(), || {
                encode(&clock.live())
            })
            .map_err(|stop| recorder.fail(stop))?;
        let value: u64 = decode(recorder, &text)?;
        self.clock.last = value;
        Ok(value)
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        // How long to wait does not change what the guest observes, so it is
        // computed from the guest's clock without a journal entry.
        let wait = when.saturating_sub(self.clock.live());
        self.subscribe_duration(wait)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let mut view = WasiClocksCtxView {
            ctx: self.wasi.clocks(),
            table: &mut self.table,
        };
        monotonic_clock::Host::subscribe_duration(&mut view, duration)
    }
}

impl random::Host for HostState {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        if len > MAX_RANDOM_BYTES {
            bail!("get-random-bytes asked for {len} bytes, over the limit of {MAX_RANDOM_BYTES}");
        }
        let request = encode(&serde_json::json!({ "len": len }));
        let text = self
            .recorder
            .local(EntryKind::Random, "bytes", request, || {
                let mut bytes = vec![0u8; len as usize];
                rand::fill(&mut bytes[..]);
                encode(&hex::encode(bytes))
            })
            .map_err(|stop| self.recorder.fail(stop))?;
        self.recorder
            .relieve_blocking()
            .map_err(|stop| self.recorder.fail(stop))?;
        let hex_text: String = decode(&mut self.recorder, &text)?;
        hex::decode(hex_text).map_err(|e| {
            self.recorder.fail(Stop::Damaged {
                seq: self.recorder.next_seq().saturating_sub(1),
                message: format!("recorded random bytes are not hex: {e}"),
            })
        })
    }

    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        let text = self
            .recorder
            .local(EntryKind::Random, "u64", "null".into(), || {
                encode(&rand::random::<u64>())
            })
            .map_err(|stop| self.recorder.fail(stop))?;
        decode(&mut self.recorder, &text)
    }
}
