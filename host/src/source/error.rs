//! Errors of the Kafka source.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot create the Kafka consumer for {brokers}: {message}")]
    Create { brokers: String, message: String },

    #[error("cannot subscribe to topic `{topic}`: {message}")]
    Subscribe { topic: String, message: String },

    #[error("Kafka consumer error: {message}")]
    Consume { message: String },

    #[error("cannot commit offsets to the consumer group: {message}")]
    Commit { message: String },
}
