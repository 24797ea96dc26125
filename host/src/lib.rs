//! Weir: Kafka records through sandboxed WebAssembly plugins into medallion lakehouse tables.
//!
//! Map of the crate:
//! - [`plugin`]: the plugin runner (wasmtime components, sandbox, limits, failure isolation).
//! - [`config`]: pipeline files (`pipelines/<name>/pipeline.toml`).
//! - [`source`]: the Kafka consumer, batches per partition, resuming where the tables stand.
//! - [`cli`]: the `weir` subcommands' implementations (the binary in `main.rs` only parses).

pub mod cli;
pub mod config;
pub mod plugin;
pub mod source;
