//! The medallion tables. `table` is the one trait every table format implements (`delta`,
//! `iceberg`, and `memory` for unit tests), each commit carrying the Kafka offsets it holds;
//! `evolve` adds declared columns on top of it; `schema` defines each table's columns; `commit`
//! is what a commit carries; `storage` translates locations and S3 settings for every format
//! and for gold's checkpoints; `catalog` connects to the Iceberg catalog; `medallion` is one
//! layer in every format; `open` opens all the tables of a pipeline.

pub mod catalog;
pub mod column_types;
pub mod commit;
pub mod delta;
mod error;
pub mod evolve;
pub mod iceberg;
pub mod iceberg_schema;
pub mod medallion;
pub mod memory;
mod open;
pub mod orphan_sweep;
pub mod schema;
pub mod storage;
pub mod table;
pub mod upkeep;

pub use commit::{CommitData, DataFiles};
pub use delta::DeltaSink;
pub use error::{BoxError, TableError};
pub use iceberg::IcebergSink;
pub use medallion::{Layer, Medallion, TableId};
pub use open::{Tables, iceberg_root};
pub use table::Table;

#[cfg(test)]
mod typed_tests;
