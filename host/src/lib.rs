//! Weir: Kafka records through sandboxed WebAssembly plugins into medallion lakehouse tables.
//!
//! Map of the crate:
//! - [`plugin`]: the plugin runner (wasmtime components, sandbox, limits, failure isolation).
//! - [`config`]: pipeline files (`pipelines/<name>/pipeline.toml`).
//! - [`source`]: the Kafka consumer, batches per partition, resuming where the tables stand.
//! - [`decode`]: accepted JSON records to typed silver rows (arrow's JSON decoder).
//! - [`gold`]: windowed aggregates (windows, watermarks, state, checkpoints) for gold tables.
//! - [`pipeline`]: one running pipeline: the loop around the source, and the data path from a
//!   batch of records to exactly-once commits of every table.
//! - [`tables`]: the medallion tables behind one `Table` trait (Delta Lake, Iceberg, and in
//!   memory for tests), each commit carrying the offsets it holds; their schemas and storage.
//! - [`reload`]: watches the pipelines folder and reloads plugins and pipelines as files change.
//! - [`metrics`]: the Prometheus metrics; [`health`]: whether each pipeline consumes (`/readyz`);
//!   [`http`]: the HTTP server; [`intake`]: the produce API (REST Proxy v2) and `weir ingest`.
//! - [`clock`]: wall-clock milliseconds, one reading per batch; [`sample`]: the demo's posts.
//! - [`cli`]: the `weir` subcommands' implementations (the binary in `main.rs` only parses).

pub mod cli;
pub mod clock;
pub mod config;
pub mod dead_letter;
pub mod decode;
pub mod gold;
pub mod health;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod pipeline;
pub mod plugin;
pub mod registry;
pub mod reload;
pub mod sample;
pub mod source;
pub mod status;
pub mod tables;
pub mod upkeep;
