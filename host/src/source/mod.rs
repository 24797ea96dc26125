//! Where records come from: a Kafka consumer group (`kafka`), handing out batches per partition
//! (`batch`), headers read as bytes without a panic path (`headers`), librdkafka's callbacks
//! (`context`: assignments, statistics, logs). Positions are the tables' to decide: see
//! [`KafkaSource::resume_at`].

mod batch;
mod context;
mod error;
mod headers;
mod kafka;

pub use batch::{PartitionBatch, SourceRecord, TopicPartition};
pub use error::SourceError;
pub use kafka::KafkaSource;
