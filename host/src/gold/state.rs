//! The state of one gold aggregate: each (pane, key)'s state bytes, each partition's newest
//! event time, and how far windows have been written as final.

use std::collections::{BTreeMap, HashMap};

use crate::source::TopicPartition;

/// The open windows of one gold aggregate, as panes of state bytes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GoldState {
    /// Per pane start (µs), each key's state bytes.
    pub panes: BTreeMap<i64, HashMap<String, Vec<u8>>>,
    /// Per Kafka partition, the newest event time (µs) of a record counted.
    pub newest: BTreeMap<TopicPartition, i64>,
    /// Every window ending at or before this (µs) has been written as final.
    pub emitted_to: Option<i64>,
}

impl GoldState {
    /// The watermark a record of `partition` is judged against: its partition's newest event
    /// time less the allowed lateness, and never behind what was written as final. It depends
    /// only on that partition's records in offset order and on the last commit, so a replay
    /// after a crash judges every record as the first run did.
    pub fn watermark(&self, partition: &TopicPartition, lateness_us: i64) -> Option<i64> {
        let own = self.newest.get(partition).map(|t| t.saturating_sub(lateness_us));
        own.max(self.emitted_to)
    }

    /// The watermark windows are finished at: the slowest partition's.
    pub fn global_watermark(&self, lateness_us: i64) -> Option<i64> {
        self.newest.values().min().map(|t| t.saturating_sub(lateness_us))
    }

    /// Forgets the event times of partitions whose topic `read` no longer takes (a topic
    /// removed from the pipeline, or deleted): they would hold the watermark back for ever.
    pub fn forget_topics(&mut self, read: impl Fn(&str) -> bool) {
        self.newest.retain(|tp, _| read(&tp.topic));
    }

    /// Notes that a record of `partition` at `t` was counted.
    pub fn observe(&mut self, partition: &TopicPartition, t: i64) {
        let newest = self.newest.entry(partition.clone()).or_insert(t);
        *newest = (*newest).max(t);
    }

    pub fn get(&self, pane: i64, key: &str) -> Option<&Vec<u8>> {
        self.panes.get(&pane)?.get(key)
    }

    pub fn put(&mut self, pane: i64, key: String, state: Vec<u8>) {
        self.panes.entry(pane).or_default().insert(key, state);
    }

    /// (pane, key) groups held.
    pub fn groups(&self) -> usize {
        self.panes.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_watermark_follows_its_own_records_and_never_falls_behind_what_was_written() {
        let mut state = GoldState::default();
        let p = |n| TopicPartition::new("t", n);
        assert_eq!(state.watermark(&p(0), 10), None);
        state.observe(&p(0), 100);
        state.observe(&p(0), 50);
        state.observe(&p(1), 70);
        assert_eq!(state.watermark(&p(0), 10), Some(90));
        assert_eq!(state.watermark(&p(1), 10), Some(60));
        assert_eq!(state.watermark(&p(2), 10), None);
        assert_eq!(state.global_watermark(10), Some(60));
        state.emitted_to = Some(80);
        assert_eq!(state.watermark(&p(1), 10), Some(80));
        assert_eq!(state.watermark(&p(2), 10), Some(80));
    }

    #[test]
    fn a_topic_no_longer_read_stops_holding_the_watermark() {
        let mut state = GoldState::default();
        state.observe(&TopicPartition::new("kept", 0), 100);
        state.observe(&TopicPartition::new("gone", 0), 10);
        assert_eq!(state.global_watermark(0), Some(10));
        state.forget_topics(|t| t == "kept");
        assert_eq!(state.global_watermark(0), Some(100));
    }

    #[test]
    fn groups_count_every_pane_and_key() {
        let mut state = GoldState::default();
        state.put(0, "a".into(), vec![1]);
        state.put(0, "b".into(), vec![2]);
        state.put(10, "a".into(), vec![3]);
        state.put(0, "a".into(), vec![4]);
        assert_eq!(state.groups(), 3);
        assert_eq!(state.get(0, "a"), Some(&vec![4]));
        assert_eq!(state.get(10, "b"), None);
    }
}
