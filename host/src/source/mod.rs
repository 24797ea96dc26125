//! Where records come from: a Kafka consumer group (`kafka`), handing out batches per partition
//! (`batch`). Positions are the tables' to decide: see [`KafkaSource::resume_at`].

mod batch;
mod error;
mod kafka;

pub use batch::{PartitionBatch, SourceRecord};
pub use error::SourceError;
pub use kafka::KafkaSource;
