//! relive: a durable, sandboxed host for AI agents compiled to WebAssembly
//! components.
//!
//! Every call that crosses the sandbox wall — LLM, tool, clock, randomness,
//! log — is written to a SQLite journal ([`journal`]); a crashed run is
//! replayed from the journal to the exact point where it stopped and goes on
//! live ([`replay`], [`runtime`]). The `relive` binary ([`cli`]) is a thin
//! layer over this library.

pub mod bindings;
pub mod cli;
pub mod config;
pub mod host_calls;
mod host_poll;
mod host_waits;
pub mod journal;
pub mod lease;
pub mod limits;
pub mod llm;
pub mod policy;
pub mod replay;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub mod testing;
pub mod tools;
pub mod waiting;
