//! What the source hands out: records of one partition, in offset order.

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
    /// The offset after the last record: where this partition resumes once the batch is committed.
    pub fn next_offset(&self) -> Option<i64> {
        self.records.last().map(|r| r.offset + 1)
    }
}
