//! What the source hands out: records of one partition, in offset order, and the name of a
//! partition of one topic (`TopicPartition`), by which offsets are kept.

use std::sync::Arc;

/// A partition of a topic: what offsets belong to. Cheap to clone (the name is shared);
/// ordered by topic, then partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: &str, partition: i32) -> Self {
        TopicPartition {
            topic: Arc::from(topic),
            partition,
        }
    }

    /// The (topic, partition, next offset) entry tables record.
    pub fn entry(&self, next: i64) -> (String, i32, i64) {
        (self.topic.to_string(), self.partition, next)
    }

    /// Whether this is `partition` of `topic`.
    pub fn is(&self, topic: &str, partition: i32) -> bool {
        self.partition == partition && &*self.topic == topic
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// One Kafka message as landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub partition: i32,
    pub offset: i64,
    /// The message timestamp (create or log-append time), ms since the epoch.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Why the message is not well-formed Kafka data (a header name that is not UTF-8): it
    /// lands in bronze as it came and goes to quarantine with this reason.
    pub malformed: Option<String>,
}

impl SourceRecord {
    /// Bytes of key and value, for commit-size accounting.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len)
    }
}

/// Consecutive records of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBatch {
    pub topic: String,
    pub partition: i32,
    pub records: Vec<SourceRecord>,
}

impl PartitionBatch {
    /// The partition this batch is of.
    pub fn tp(&self) -> TopicPartition {
        TopicPartition::new(&self.topic, self.partition)
    }

    /// The offset after the last record: where this partition resumes once the batch is committed.
    pub fn next_offset(&self) -> Option<i64> {
        self.records.last().map(|r| r.offset + 1)
    }
}
