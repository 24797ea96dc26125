//! Where records go: the medallion tables. `schema` defines each table's columns; `delta` and
//! `iceberg` write them with the Kafka offsets of each commit inside the same atomic commit;
//! `catalog` connects to the Iceberg catalog; `table` is one table in either format; `commit`
//! is what a commit carries; `storage` translates locations and S3 settings for all of them;
//! `medallion` is one layer in every format.

pub mod catalog;
pub mod commit;
pub mod delta;
mod error;
pub mod iceberg;
pub mod medallion;
pub mod schema;
pub mod storage;
pub mod table;

pub use commit::CommitData;
pub use delta::DeltaSink;
pub use error::SinkError;
pub use iceberg::IcebergSink;
pub use table::TableSink;
