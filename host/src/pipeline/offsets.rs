//! Where each table stands: per table (by its [`TableId`]), the next offset of each partition it
//! holds. The commit protocol is decided here: a table is given only the rows at or past its own
//! offsets ([`TableOffsets::lacking`]), and the offsets it records are never lower than those it
//! holds ([`TableOffsets::after`]), so a crash between any two table commits neither duplicates
//! nor loses a row, however many commits follow before the tables agree again.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Int32Type, Int64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::tables::schema::{ORIGIN_OFFSET, ORIGIN_PARTITION};
use crate::tables::{Layer, TableId};

/// The next offset of each partition, per table.
#[derive(Debug, Clone, Default)]
pub struct TableOffsets {
    next: HashMap<TableId, HashMap<i32, i64>>,
}

impl TableOffsets {
    /// No offsets yet for `tables`.
    pub fn new(tables: impl IntoIterator<Item = TableId>) -> Self {
        TableOffsets {
            next: tables.into_iter().map(|id| (id, HashMap::new())).collect(),
        }
    }

    /// Notes that `table` holds `partition` up to `next` (read from the table on assignment).
    pub fn set(&mut self, table: TableId, partition: i32, next: i64) {
        if let Some(map) = self.next.get_mut(&table) {
            map.insert(partition, next);
        }
    }

    /// Forgets `partition` (revoked: its new owner decides where it stands).
    pub fn forget(&mut self, partition: i32) {
        for next in self.next.values_mut() {
            next.remove(&partition);
        }
    }

    /// The next offset `table` holds for `partition` (0: none).
    pub fn of(&self, table: TableId, partition: i32) -> i64 {
        self.next
            .get(&table)
            .and_then(|m| m.get(&partition))
            .copied()
            .unwrap_or(0)
    }

    /// The next offsets of `partition` in the tables of `layer`.
    fn in_layer(&self, layer: Layer, partition: i32) -> impl Iterator<Item = i64> + '_ {
        self.next
            .keys()
            .filter(move |id| id.layer == layer)
            .map(move |id| self.of(*id, partition))
    }

    /// The lowest next offset of `partition` among the tables of `layer`: rows for that layer are
    /// built from there, and each of its tables skips, when committing, what it already holds.
    pub fn floor(&self, layer: Layer, partition: i32) -> i64 {
        self.in_layer(layer, partition).min().unwrap_or(0)
    }

    /// The lowest next offset of `partition` among all tables: where reading resumes.
    pub fn lowest(&self, partition: i32) -> i64 {
        self.next.keys().map(|id| self.of(*id, partition)).min().unwrap_or(0)
    }

    /// The rows of `rows` (of a buffer starting at `first`) that `table` lacks: all of them,
    /// unless it already holds some of the buffer's offsets (it committed before a crash the
    /// others did not reach); then those at or past its next offsets. Rows without origin
    /// columns are kept.
    pub fn lacking(
        &self,
        table: TableId,
        first: &BTreeMap<i32, i64>,
        rows: &[RecordBatch],
    ) -> Result<Vec<RecordBatch>, ArrowError> {
        if !first.iter().any(|(p, first)| self.of(table, *p) > *first) {
            return Ok(rows.to_vec());
        }
        let mut out = Vec::with_capacity(rows.len());
        for batch in rows {
            let (Some(partitions), Some(offsets)) = (
                batch.column_by_name(ORIGIN_PARTITION),
                batch.column_by_name(ORIGIN_OFFSET),
            ) else {
                out.push(batch.clone());
                continue;
            };
            let partitions = partitions.as_primitive::<Int32Type>();
            let offsets = offsets.as_primitive::<Int64Type>();
            let keep: BooleanArray = partitions
                .iter()
                .zip(offsets.iter())
                .map(|(p, o)| Some(o.unwrap_or(0) >= p.map_or(0, |p| self.of(table, p))))
                .collect();
            if keep.true_count() == batch.num_rows() {
                out.push(batch.clone());
            } else if keep.true_count() > 0 {
                out.push(filter_record_batch(batch, &keep)?);
            }
        }
        Ok(out)
    }

    /// The offsets `table` is to record when it commits a buffer ending at `buffer_next`: per
    /// partition the higher of what it holds and the buffer's end. A table that was ahead of
    /// the buffer (it committed before a crash that the others did not reach) keeps its offsets.
    pub fn after(&self, table: TableId, topic: &str, buffer_next: &BTreeMap<i32, i64>) -> Vec<(String, i32, i64)> {
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
                let held = self.in_layer(layer, *p).max().unwrap_or(0);
                (topic.to_string(), *p, (*next).max(held))
            })
            .collect()
    }

    /// True when committing `offsets` (of `topic`) moves `table` forward on some partition.
    pub fn advances(&self, table: TableId, topic: &str, offsets: &[(String, i32, i64)]) -> bool {
        offsets
            .iter()
            .any(|(t, p, next)| t == topic && *next > self.of(table, *p))
    }

    /// Notes that `table` committed `offsets` (other topics, such as gold's checkpoint number,
    /// are ignored). Offsets only move forward.
    pub fn committed(&mut self, table: TableId, topic: &str, offsets: &[(String, i32, i64)]) {
        let Some(map) = self.next.get_mut(&table) else {
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

    use crate::config::TableFormat::{Delta, Iceberg};

    const BRONZE_D: TableId = TableId {
        layer: Layer::Bronze,
        format: Delta,
    };
    const BRONZE_I: TableId = TableId {
        layer: Layer::Bronze,
        format: Iceberg,
    };
    const SILVER_D: TableId = TableId {
        layer: Layer::Silver,
        format: Delta,
    };
    const SILVER_I: TableId = TableId {
        layer: Layer::Silver,
        format: Iceberg,
    };

    /// bronze and silver, each in two formats.
    fn offsets() -> TableOffsets {
        TableOffsets::new([BRONZE_D, BRONZE_I, SILVER_D, SILVER_I])
    }

    #[test]
    fn floors_are_the_lowest_table_of_a_layer_and_of_all() {
        let mut o = offsets();
        o.set(BRONZE_D, 0, 90);
        o.set(BRONZE_I, 0, 80);
        o.set(SILVER_D, 0, 70);
        o.set(SILVER_I, 0, 60);
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
        for t in [BRONZE_D, BRONZE_I] {
            o.set(t, 0, 8624);
        }
        for t in [SILVER_D, SILVER_I] {
            o.set(t, 0, 5209);
        }
        let buffer_first = BTreeMap::from([(0, 5209)]);
        let buffer_next = BTreeMap::from([(0, 6000)]);
        assert_eq!(o.lacking(BRONZE_D, &buffer_first, &[]).unwrap().len(), 0);
        let bronze = o.after(BRONZE_D, "posts", &buffer_next);
        assert_eq!(bronze, [("posts".to_string(), 0, 8624)], "never lowered");
        assert!(!o.advances(BRONZE_D, "posts", &bronze), "nothing to commit to bronze");
        let silver = o.after(SILVER_D, "posts", &buffer_next);
        assert_eq!(silver, [("posts".to_string(), 0, 6000)]);
        assert!(o.advances(SILVER_D, "posts", &silver));
        o.committed(BRONZE_D, "posts", &bronze);
        o.committed(SILVER_D, "posts", &silver);
        assert_eq!(o.of(BRONZE_D, 0), 8624);
        assert_eq!(o.of(SILVER_D, 0), 6000);
        // A lower offset never takes, whoever reports it.
        o.committed(BRONZE_D, "posts", &[("posts".to_string(), 0, 10)]);
        assert_eq!(o.of(BRONZE_D, 0), 8624);
    }

    #[test]
    fn layer_after_takes_the_highest_format_and_ignores_other_topics() {
        let mut o = offsets();
        o.set(SILVER_D, 1, 40);
        o.set(SILVER_I, 1, 30);
        let after = o.layer_after(Layer::Silver, "posts", &BTreeMap::from([(1, 35), (2, 5)]));
        assert_eq!(after, [("posts".to_string(), 1, 40), ("posts".to_string(), 2, 5)]);
        o.committed(SILVER_I, "posts", &[("~checkpoint".to_string(), 1, 99)]);
        assert_eq!(o.of(SILVER_I, 1), 30, "another topic's numbers are not offsets");
    }
}
