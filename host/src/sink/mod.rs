//! Where records go: the medallion tables. `schema` defines each table's columns; `delta` writes
//! Delta tables with the Kafka offsets of each commit in the same commit (`txn` actions).

pub mod delta;
mod error;
pub mod schema;

pub use delta::DeltaSink;
pub use error::SinkError;
