//! Bindings generated from `wit/agent.wit` (world `agent`).
//!
//! Hidden from the documentation: agent authors use the typed modules of the
//! crate and [`export_agent!`](crate::export_agent) instead. On targets other
//! than `wasm32`, every import panics when called; only pure logic can run
//! natively (unit tests).

wit_bindgen::generate!({
    path: "../wit",
    world: "agent",
    pub_export_macro: true,
    default_bindings_module: "relive_sdk::bindings",
    additional_derives: [PartialEq],
});
