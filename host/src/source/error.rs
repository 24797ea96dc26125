//! Errors of the Kafka source.

use rdkafka::error::KafkaError;
use thiserror::Error;

// librdkafka's errors are large; boxed, so every `Result` carrying one stays small.

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot create the Kafka consumer for {brokers}: {source}")]
    Create {
        brokers: String,
        #[source]
        source: Box<KafkaError>,
    },

    #[error("cannot subscribe to {topic}: {source}")]
    Subscribe {
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },

    #[error("Kafka consumer error: {0}")]
    Consume(#[source] Box<KafkaError>),

    #[error("cannot commit offsets to the consumer group: {0}")]
    Commit(#[source] Box<KafkaError>),
}
