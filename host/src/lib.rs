//! Weir: Kafka records through sandboxed WebAssembly plugins into medallion lakehouse tables.
//!
//! Map of the crate:
//! - [`plugin`]: the plugin runner (wasmtime components, sandbox, limits, failure isolation).
//! - [`config`]: pipeline files (`pipelines/<name>/pipeline.toml`).
//! - [`source`]: the Kafka consumer, batches per partition, resuming where the tables stand.
//! - [`decode`]: accepted JSON records to typed silver rows (arrow's JSON decoder).
//! - [`gold`]: windowed aggregates (windows, watermarks, state, checkpoints) for gold tables.
//! - [`pipeline`]: one running pipeline: source, stages, decoder, tables, exactly-once commits.
//! - [`sink`]: the medallion tables' schemas and the Delta Lake and Iceberg writers, each
//!   commit carrying the offsets it holds.
//! - [`reload`]: watches the pipelines folder and reloads plugins and pipelines as files change.
//! - [`metrics`]: the Prometheus metrics; [`health`]: whether each pipeline consumes (`/readyz`);
//!   [`serve`]: the HTTP endpoints.
//! - [`clock`]: wall-clock milliseconds, one reading per batch.
//! - [`cli`]: the `weir` subcommands' implementations (the binary in `main.rs` only parses).

pub mod cli;
pub mod clock;
pub mod config;
pub mod decode;
pub mod gold;
pub mod health;
pub mod metrics;
pub mod pipeline;
pub mod plugin;
pub mod reload;
pub mod serve;
pub mod source;
pub mod tables;
