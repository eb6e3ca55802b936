//! End-to-end tests: the real `relive` binary, real guest components built
//! from the examples' source, a real SQLite file (or a throw-away PostgreSQL
//! cluster: tests/postgres.rs), real processes killed with SIGKILL, and a
//! real HTTP server on 127.0.0.1 standing in for an LLM.

mod support;

mod agents;
mod bad_input;
mod campaign;
mod divergence;
mod hardening;
mod kill;
mod llm_calls;
mod migrate;
mod old_journals;
mod openai;
mod postgres;
mod postgres_load;
mod python;
mod record_replay;
mod replay_tests;
mod sandbox;
mod serve;
mod suspend;
mod typescript;
mod web_ui;
