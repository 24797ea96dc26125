//! What has been processed but not yet committed, and the policy deciding when to commit.

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::record_batch::RecordBatch;

use crate::config::CommitPolicy;
use crate::source::TopicPartition;

/// Rows waiting for the next commit, per table, and the offsets they cover.
#[derive(Debug, Default)]
pub struct Buffer {
    pub bronze: Vec<RecordBatch>,
    pub quarantine: Vec<RecordBatch>,
    /// Per silver table (by index), its rows.
    pub silver: Vec<Vec<RecordBatch>>,
    /// Per partition, the offset of the first processed record.
    pub first: BTreeMap<TopicPartition, i64>,
    /// Per partition, the offset after the last processed record.
    pub next: BTreeMap<TopicPartition, i64>,
    pub records: usize,
    pub bytes: u64,
    pub started: Option<Instant>,
    /// Lineage: per stage, the content hash of each plugin version that processed buffered
    /// records, in the order they were first used (two when a reload happened in between).
    pub plugins: BTreeMap<String, Vec<String>>,
}

impl Buffer {
    pub fn note(&mut self, tp: &TopicPartition, offsets: std::ops::Range<i64>, records: usize, bytes: u64) {
        self.first.entry(tp.clone()).or_insert(offsets.start);
        self.next.insert(tp.clone(), offsets.end);
        self.records += records;
        self.bytes += bytes;
        self.started.get_or_insert_with(Instant::now);
    }

    /// Silver table `t`'s rows.
    pub fn silver_mut(&mut self, t: usize) -> &mut Vec<RecordBatch> {
        if self.silver.len() <= t {
            self.silver.resize_with(t + 1, Vec::new);
        }
        &mut self.silver[t]
    }

    /// Silver table `t`'s rows (none buffered: empty).
    pub fn silver(&self, t: usize) -> &[RecordBatch] {
        self.silver.get(t).map_or(&[], Vec::as_slice)
    }

    /// Notes that `stage` ran as plugin `sha256` on buffered records.
    pub fn used(&mut self, stage: &str, sha256: &str) {
        let versions = self.plugins.entry(stage.to_string()).or_default();
        if !versions.iter().any(|v| v == sha256) {
            versions.push(sha256.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }

    /// True when the policy says the buffer should be committed now.
    pub fn is_due(&self, policy: &CommitPolicy) -> bool {
        !self.is_empty()
            && (self.records >= policy.max_records
                || self.bytes >= policy.max_bytes
                || self
                    .started
                    .is_some_and(|t| t.elapsed().as_millis() as u64 >= policy.max_interval_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_by_records_bytes_or_time() {
        let policy = CommitPolicy {
            max_records: 10,
            max_bytes: 100,
            max_interval_ms: 60_000,
        };
        let mut buffer = Buffer::default();
        assert!(!buffer.is_due(&policy));
        let tp = |p| TopicPartition::new("t", p);
        buffer.note(&tp(0), 0..5, 5, 50);
        assert!(!buffer.is_due(&policy));
        buffer.note(&tp(1), 0..5, 5, 10);
        assert!(buffer.is_due(&policy), "10 records");
        let mut bytes = Buffer::default();
        bytes.note(&tp(0), 0..1, 1, 100);
        assert!(bytes.is_due(&policy), "100 bytes");
        let mut time = Buffer::default();
        time.note(&tp(0), 0..1, 1, 1);
        time.started = Some(Instant::now() - std::time::Duration::from_secs(61));
        assert!(time.is_due(&policy), "interval");
    }

    #[test]
    fn lineage_lists_each_plugin_version_once_in_order_of_use() {
        let mut buffer = Buffer::default();
        buffer.used("tag", "aaa");
        buffer.used("check", "ccc");
        buffer.used("tag", "aaa");
        buffer.used("tag", "bbb");
        buffer.used("tag", "aaa");
        assert_eq!(buffer.plugins["tag"], ["aaa", "bbb"]);
        assert_eq!(buffer.plugins["check"], ["ccc"]);
    }
}
