//! relive: a durable, sandboxed host for AI agents compiled to WebAssembly
//! components.
//!
//! Every call that crosses the sandbox wall — LLM, tool, clock, randomness,
//! log — is written to a journal ([`journal`]); a crashed run is replayed
//! from the journal to the exact point where it stopped and goes on live
//! ([`engine`], [`runtime`]). The `relive` binary ([`cli`]) and the service
//! ([`server`]) are thin faces over this library. ARCHITECTURE.md maps the
//! folders and the direction of their imports.

pub mod cli;
pub mod config;
pub mod control;
pub mod engine;
pub mod imports;
pub mod journal;
pub mod llm;
pub mod runtime;
pub mod server;
pub mod testing;
pub mod tools;

#[cfg(test)]
mod layout_tests;
