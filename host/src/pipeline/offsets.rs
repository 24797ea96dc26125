//! Where each table stands: per table (layer x format, in commit order), the next offset of each
//! partition it holds. The commit protocol is decided here: a table is given only the rows at or
//! past its own offsets, and the offsets it records are never lower than those it holds, so a
//! crash between any two table commits neither duplicates nor loses a row, however many commits
//! follow before the tables agree again.

use std::collections::{BTreeMap, HashMap};

use super::tables::Layer;

/// The next offset of each partition, per table.
#[derive(Debug, Clone, Default)]
pub struct TableOffsets {
    layers: Vec<Layer>,
    next: Vec<HashMap<i32, i64>>,
}

impl TableOffsets {
    /// No offsets yet for tables of `layers` (one entry per table, in commit order).
    pub fn new(layers: Vec<Layer>) -> Self {
        let next = vec![HashMap::new(); layers.len()];
        TableOffsets { layers, next }
    }

    /// Notes that `table` holds `partition` up to `next` (read from the table on assignment).
    pub fn set(&mut self, table: usize, partition: i32, next: i64) {
        if let Some(map) = self.next.get_mut(table) {
            map.insert(partition, next);
        }
    }

    /// Forgets `partition` (revoked: its new owner decides where it stands).
    pub fn forget(&mut self, partition: i32) {
        for next in &mut self.next {
            next.remove(&partition);
        }
    }

    /// The next offset `table` holds for `partition` (0: none).
    pub fn of(&self, table: usize, partition: i32) -> i64 {
        self.next
            .get(table)
            .and_then(|m| m.get(&partition))
            .copied()
            .unwrap_or(0)
    }

    /// The lowest next offset of `partition` among the tables of `layer`: rows for that layer are
    /// built from there, and each of its tables skips, when committing, what it already holds.
    pub fn floor(&self, layer: Layer, partition: i32) -> i64 {
        (0..self.layers.len())
            .filter(|&t| self.layers[t] == layer)
            .map(|t| self.of(t, partition))
            .min()
            .unwrap_or(0)
    }

    /// The lowest next offset of `partition` among all tables: where reading resumes.
    pub fn lowest(&self, partition: i32) -> i64 {
        (0..self.layers.len()).map(|t| self.of(t, partition)).min().unwrap_or(0)
    }

    /// True when `table` already holds some offsets of a buffer that starts at `first`: its rows
    /// must be filtered by [`TableOffsets::next_of`] before committing.
    pub fn holds_some(&self, table: usize, first: &BTreeMap<i32, i64>) -> bool {
        first.iter().any(|(p, first)| self.of(table, *p) > *first)
    }

    /// The next offsets of `table`, per partition.
    pub fn next_of(&self, table: usize) -> HashMap<i32, i64> {
        self.next.get(table).cloned().unwrap_or_default()
    }

    /// The offsets `table` is to record when it commits a buffer ending at `buffer_next`: per
    /// partition the higher of what it holds and the buffer's end. A table that was ahead of
    /// the buffer (it committed before a crash that the others did not reach) keeps its offsets.
    pub fn after(&self, table: usize, topic: &str, buffer_next: &BTreeMap<i32, i64>) -> Vec<(String, i32, i64)> {
        buffer_next
            .iter()
            .map(|(p, next)| (topic.to_string(), *p, (*next).max(self.of(table, *p))))
            .collect()
    }

    /// As [`TableOffsets::after`] for the highest-standing table of `layer`.
    pub fn layer_after(&self, layer: Layer, topic: &str, buffer_next: &BTreeMap<i32, i64>) -> Vec<(String, i32, i64)> {
        buffer_next
            .iter()
            .map(|(p, next)| {
                let held = (0..self.layers.len())
                    .filter(|&t| self.layers[t] == layer)
                    .map(|t| self.of(t, *p))
                    .max()
                    .unwrap_or(0);
                (topic.to_string(), *p, (*next).max(held))
            })
            .collect()
    }

    /// True when committing `offsets` (of `topic`) moves `table` forward on some partition.
    pub fn advances(&self, table: usize, topic: &str, offsets: &[(String, i32, i64)]) -> bool {
        offsets
            .iter()
            .any(|(t, p, next)| t == topic && *next > self.of(table, *p))
    }

    /// Notes that `table` committed `offsets` (other topics, such as gold's checkpoint number,
    /// are ignored). Offsets only move forward.
    pub fn committed(&mut self, table: usize, topic: &str, offsets: &[(String, i32, i64)]) {
        let Some(map) = self.next.get_mut(table) else {
            return;
        };
        for (t, p, next) in offsets {
            if t == topic {
                let held = map.entry(*p).or_insert(*next);
                *held = (*held).max(*next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bronze and silver, each in two formats.
    fn offsets() -> TableOffsets {
        TableOffsets::new(vec![Layer::Bronze, Layer::Bronze, Layer::Silver, Layer::Silver])
    }

    #[test]
    fn floors_are_the_lowest_table_of_a_layer_and_of_all() {
        let mut o = offsets();
        o.set(0, 0, 90);
        o.set(1, 0, 80);
        o.set(2, 0, 70);
        o.set(3, 0, 60);
        assert_eq!(o.floor(Layer::Bronze, 0), 80);
        assert_eq!(o.floor(Layer::Silver, 0), 60);
        assert_eq!(o.lowest(0), 60);
        assert_eq!(o.lowest(1), 0, "a partition no table holds starts at 0");
        o.forget(0);
        assert_eq!(o.lowest(0), 0);
    }

    #[test]
    fn a_table_ahead_of_the_buffer_keeps_its_offsets() {
        // The crash in the field: bronze committed up to 8624, silver only to 5209; the host
        // resumes at 5209 and commits a buffer ending at 6000.
        let mut o = offsets();
        for t in [0, 1] {
            o.set(t, 0, 8624);
        }
        for t in [2, 3] {
            o.set(t, 0, 5209);
        }
        let buffer_first = BTreeMap::from([(0, 5209)]);
        let buffer_next = BTreeMap::from([(0, 6000)]);
        assert!(o.holds_some(0, &buffer_first));
        assert!(!o.holds_some(2, &buffer_first));
        let bronze = o.after(0, "posts", &buffer_next);
        assert_eq!(bronze, [("posts".to_string(), 0, 8624)], "never lowered");
        assert!(!o.advances(0, "posts", &bronze), "nothing to commit to bronze");
        let silver = o.after(2, "posts", &buffer_next);
        assert_eq!(silver, [("posts".to_string(), 0, 6000)]);
        assert!(o.advances(2, "posts", &silver));
        o.committed(0, "posts", &bronze);
        o.committed(2, "posts", &silver);
        assert_eq!(o.of(0, 0), 8624);
        assert_eq!(o.of(2, 0), 6000);
        // A lower offset never takes, whoever reports it.
        o.committed(0, "posts", &[("posts".to_string(), 0, 10)]);
        assert_eq!(o.of(0, 0), 8624);
    }

    #[test]
    fn layer_after_takes_the_highest_format_and_ignores_other_topics() {
        let mut o = offsets();
        o.set(2, 1, 40);
        o.set(3, 1, 30);
        let after = o.layer_after(Layer::Silver, "posts", &BTreeMap::from([(1, 35), (2, 5)]));
        assert_eq!(after, [("posts".to_string(), 1, 40), ("posts".to_string(), 2, 5)]);
        o.committed(3, "posts", &[("~checkpoint".to_string(), 1, 99)]);
        assert_eq!(o.of(3, 1), 30, "another topic's numbers are not offsets");
    }
}
