//! Write durable AI agents for the relive host in ordinary Rust.
//!
//! An agent is a WebAssembly component (`wasm32-wasip2`) that exports one
//! function, `run(input) -> Result<String, String>`, and reaches the outside
//! world only through the host: the LLM ([`llm`]), tools granted by the
//! operator ([`tools`]), progress events ([`log`]), and the WASI clocks and
//! randomness ([`random`], `std::time`). The host journals every one of these
//! calls, so a run that was interrupted by a crash is resumed by replaying the
//! recorded answers — the agent code needs no checkpoints of its own. The
//! only rule: get every nondeterministic value through the host (no
//! `HashMap` iteration order, no thread scheduling) so that the same answers
//! lead to the same calls.
//!
//! # A complete agent
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! relive-sdk = "0.1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use relive_sdk::{AgentLoop, log};
//!
//! struct Researcher;
//!
//! impl relive_sdk::Agent for Researcher {
//!     fn run(input: String) -> Result<String, String> {
//!         log::info("researching");
//!         AgentLoop::new("You are a careful researcher. Use the tools.")
//!             .max_steps(8)
//!             .run(&input)
//!     }
//! }
//!
//! relive_sdk::export_agent!(Researcher);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` and run the
//! `.wasm` file with `relive run`.

#![warn(missing_docs)]

#[doc(hidden)]
#[allow(unsafe_code, missing_docs)]
pub mod bindings;

mod agent_loop;
pub mod agents;
mod host;
pub mod llm;
pub mod log;
mod patches;
pub mod random;
pub mod tools;
mod wait;
pub use patches::{deprecate_patch, patched};
pub use wait::{approval, signals, timers};

pub use agent_loop::{AgentLoop, DEFAULT_MAX_STEPS};

/// The trait an agent implements: its `run` function is the component's
/// export.
///
/// `run` receives the input the run was started with and returns the final
/// answer, or an error message when the agent gives up. After a crash the
/// host calls `run` again with the same input and replays the journal, so
/// `run` must reach its host calls in the same order given the same answers.
///
/// Export the implementing type with [`export_agent!`].
pub use bindings::Guest as Agent;

/// Exports a type implementing [`Agent`] as the component's `run` function.
///
/// Invoke it once, at the root of the agent crate:
///
/// ```no_run
/// struct Echo;
///
/// impl relive_sdk::Agent for Echo {
///     fn run(input: String) -> Result<String, String> {
///         Ok(input)
///     }
/// }
///
/// relive_sdk::export_agent!(Echo);
/// ```
#[macro_export]
macro_rules! export_agent {
    ($agent:ident) => {
        // The generated exports are `unsafe extern "C"` functions; the lint
        // exception stays inside this expansion.
        #[allow(unsafe_code)]
        const _: () = {
    $crate::bindings::export!($agent with_types_in $crate::bindings);
        };
    };
}
