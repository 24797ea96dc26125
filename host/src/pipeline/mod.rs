//! One running pipeline: Kafka source, plugin stages, silver decoding, and the bronze / silver /
//! quarantine / gold tables (Delta Lake and Iceberg), committed exactly once per offset.
//!
//! - `tables`: opens the tables at the pipeline's location (local folder or S3).
//! - `rows`: builds bronze and quarantine rows from Kafka records.
//! - `silver_keys`: silver's key set (dedup), with the origin of each key.
//! - `buffer`: what has been processed but not committed, and when to commit.
//! - `batch_stages`: one batch through the transform stages, refusals to quarantine.
//! - `stages`: the running transform stages, and swapping reloaded ones in between batches.
//! - `runner`: the loop.

mod batch_stages;
mod buffer;
#[cfg(test)]
mod crash_tests;
mod lease;
mod offsets;
mod rows;
mod runner;
mod silver_keys;
mod stages;
mod tables;

pub use crate::gold::{CHECKPOINT_TOPIC, GoldTable};
pub use lease::{LeaseError, WriterLease};
pub use runner::{PipelineRunner, RunError, RunStats};
pub use stages::{RunningStage, StageSwap, Started, SwapReceiver, SwapSender, Swapped, swap_channel};
pub use tables::{Layer, Medallion, Tables};
