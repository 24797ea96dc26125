//! One running pipeline: Kafka source, plugin stages, silver decoding, and the bronze / silver /
//! quarantine / gold tables (Delta Lake and Iceberg), committed exactly once per offset.
//!
//! - `runner`: the loop: poll Kafka, feed the data path, commit by policy, swaps, assignment.
//! - `data_path`: one batch from records to buffered rows, without Kafka: `process` lands
//!   bronze, runs the stages (`batch_stages`), decodes and deduplicates silver
//!   (`silver_batch`, `silver_keys`), feeds gold (`gold_feed`) and builds quarantine rows
//!   (`rows`); `buffer` holds the result until the commit.
//! - `offsets`: where each table stands, per partition: the floor, the resume offset, the rows
//!   a table lacks.
//! - `commit`: every table's files written at once (`table_writes`), published in order, then
//!   the group offsets.
//! - `partitions`: assignment (resume offsets) and revocation (dropping buffered rows).
//! - `stages`: the running transform stages, and swapping reloaded ones in between batches.
//! - `lease`: the single writer of a gold pipeline.

mod batch_stages;
mod buffer;
mod commit;
#[cfg(test)]
mod crash_tests;
mod data_path;
mod direct_silver;
mod error;
#[cfg(test)]
mod exactly_once_tests;
mod gold_feed;
mod lease;
mod offsets;
#[cfg(test)]
mod parallel_tests;
mod partitions;
mod prepare;
#[cfg(test)]
mod routing_tests;
mod rows;
mod runner;
mod silver_batch;
mod silver_columns;
mod silver_keys;
mod stages;
mod table_writes;
mod workers;

pub use crate::gold::{CHECKPOINT_TOPIC, GoldTable};
pub use crate::tables::{Layer, Medallion, Tables};
pub use commit::GroupOffsets;
pub use data_path::{DataPath, RunStats};
pub use error::RunError;
pub use lease::{LeaseError, Role as LeaseRole, TTL as LEASE_TTL, WriterLease, holder_name};
pub use runner::PipelineRunner;
pub use silver_columns::take_from_registry;
pub use stages::{RunningStage, StageSwap, Started, SwapReceiver, SwapSender, Swapped, swap_channel};
