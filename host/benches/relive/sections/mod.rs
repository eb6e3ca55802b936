//! One module per section of the benchmark (see `SECTIONS` in relive.rs).

pub mod crash;
pub mod fanout;
pub mod local;
pub mod pg_serve;
pub mod postgres;
pub mod replay;
pub mod serve;
pub mod start;
pub mod steps;
