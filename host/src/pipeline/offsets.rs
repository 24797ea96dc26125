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

use crate::source::TopicPartition;
use crate::tables::schema::{ORIGIN_OFFSET, ORIGIN_PARTITION, ORIGIN_TOPIC};
use crate::tables::{Layer, TableId};

/// The next offset of each partition, per table.
#[derive(Debug, Clone, Default)]
pub struct TableOffsets {
    next: HashMap<TableId, HashMap<TopicPartition, i64>>,
}

/// Whether `topic` names a Kafka topic: gold's checkpoint number rides as the offset of a
/// pseudo-topic starting with `~`, which Kafka topic names cannot hold.
fn is_kafka_topic(topic: &str) -> bool {
    !topic.starts_with('~')
}

impl TableOffsets {
    /// No offsets yet for `tables`.
    pub fn new(tables: impl IntoIterator<Item = TableId>) -> Self {
        TableOffsets {
            next: tables.into_iter().map(|id| (id, HashMap::new())).collect(),
        }
    }

    /// Notes that `table` holds `tp` up to `next` (read from the table on assignment).
    pub fn set(&mut self, table: TableId, tp: &TopicPartition, next: i64) {
        if let Some(map) = self.next.get_mut(&table) {
            map.insert(tp.clone(), next);
        }
    }

    /// Forgets `tp` (revoked: its new owner decides where it stands).
    pub fn forget(&mut self, tp: &TopicPartition) {
        for next in self.next.values_mut() {
            next.remove(tp);
        }
    }

    /// The next offset `table` holds for `tp` (0: none).
    pub fn of(&self, table: TableId, tp: &TopicPartition) -> i64 {
        self.next.get(&table).and_then(|m| m.get(tp)).copied().unwrap_or(0)
    }

    /// The next offset `table` holds for `partition` of `topic` (0: none), found without
    /// making a key (rows name their origin as text and a number).
    fn of_origin(&self, table: TableId, topic: &str, partition: i32) -> i64 {
        self.next
            .get(&table)
            .and_then(|m| m.iter().find(|(tp, _)| tp.is(topic, partition)))
            .map_or(0, |(_, next)| *next)
    }

    /// The next offsets of `tp` in the tables of `layer`.
    fn in_layer<'a>(&'a self, layer: Layer, tp: &'a TopicPartition) -> impl Iterator<Item = i64> + 'a {
        self.next
            .keys()
            .filter(move |id| id.layer == layer)
            .map(move |id| self.of(*id, tp))
    }

    /// The lowest next offset of `tp` among the tables of `layer`: rows for that layer are
    /// built from there, and each of its tables skips, when committing, what it already holds.
    pub fn floor(&self, layer: Layer, tp: &TopicPartition) -> i64 {
        self.in_layer(layer, tp).min().unwrap_or(0)
    }

    /// The lowest next offset of `tp` among all tables: where reading resumes.
    pub fn lowest(&self, tp: &TopicPartition) -> i64 {
        self.next.keys().map(|id| self.of(*id, tp)).min().unwrap_or(0)
    }

    /// The rows of `rows` (of a buffer starting at `first`) that `table` lacks: all of them,
    /// unless it already holds some of the buffer's offsets (it committed before a crash the
    /// others did not reach); then those at or past its next offsets of their own topic and
    /// partition. Rows without origin columns are kept.
    pub fn lacking(
        &self,
        table: TableId,
        first: &BTreeMap<TopicPartition, i64>,
        rows: &[RecordBatch],
    ) -> Result<Vec<RecordBatch>, ArrowError> {
        if !first.iter().any(|(tp, first)| self.of(table, tp) > *first) {
            return Ok(rows.to_vec());
        }
        let mut out = Vec::with_capacity(rows.len());
        for batch in rows {
            let (Some(topics), Some(partitions), Some(offsets)) = (
                batch.column_by_name(ORIGIN_TOPIC),
                batch.column_by_name(ORIGIN_PARTITION),
                batch.column_by_name(ORIGIN_OFFSET),
            ) else {
                out.push(batch.clone());
                continue;
            };
            let topics = topics.as_string::<i32>();
            let partitions = partitions.as_primitive::<Int32Type>();
            let offsets = offsets.as_primitive::<Int64Type>();
            // Rows come in runs of one partition: its offset is looked up once per run.
            let mut last: Option<(&str, i32, i64)> = None;
            let keep: BooleanArray = (topics.iter().zip(partitions.iter()).zip(offsets.iter()))
                .map(|((t, p), o)| {
                    let (t, p) = (t.unwrap_or_default(), p.unwrap_or(0));
                    let held = match last {
                        Some((lt, lp, held)) if lt == t && lp == p => held,
                        _ => self.of_origin(table, t, p),
                    };
                    last = Some((t, p, held));
                    Some(o.unwrap_or(0) >= held)
                })
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
    pub fn after(&self, table: TableId, buffer_next: &BTreeMap<TopicPartition, i64>) -> Vec<(String, i32, i64)> {
        buffer_next
            .iter()
            .map(|(tp, next)| tp.entry((*next).max(self.of(table, tp))))
            .collect()
    }

    /// As [`TableOffsets::after`] for the highest-standing table of `layer`.
    pub fn layer_after(&self, layer: Layer, buffer_next: &BTreeMap<TopicPartition, i64>) -> Vec<(String, i32, i64)> {
        buffer_next
            .iter()
            .map(|(tp, next)| {
                let held = self.in_layer(layer, tp).max().unwrap_or(0);
                tp.entry((*next).max(held))
            })
            .collect()
    }

    /// True when committing `offsets` moves `table` forward on some partition (of a Kafka
    /// topic: gold's checkpoint number is not an offset).
    pub fn advances(&self, table: TableId, offsets: &[(String, i32, i64)]) -> bool {
        offsets
            .iter()
            .any(|(t, p, next)| is_kafka_topic(t) && *next > self.of_origin(table, t, *p))
    }

    /// Notes that `table` committed `offsets` (gold's checkpoint number is ignored). Offsets
    /// only move forward.
    pub fn committed(&mut self, table: TableId, offsets: &[(String, i32, i64)]) {
        let Some(map) = self.next.get_mut(&table) else {
            return;
        };
        for (t, p, next) in offsets.iter().filter(|(t, _, _)| is_kafka_topic(t)) {
            let held = map.entry(TopicPartition::new(t, *p)).or_insert(*next);
            *held = (*held).max(*next);
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
        layer: Layer::Silver(0),
        format: Delta,
    };
    const SILVER_I: TableId = TableId {
        layer: Layer::Silver(0),
        format: Iceberg,
    };

    /// bronze and silver, each in two formats.
    fn offsets() -> TableOffsets {
        TableOffsets::new([BRONZE_D, BRONZE_I, SILVER_D, SILVER_I])
    }

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition::new("posts", partition)
    }

    #[test]
    fn floors_are_the_lowest_table_of_a_layer_and_of_all() {
        let mut o = offsets();
        o.set(BRONZE_D, &tp(0), 90);
        o.set(BRONZE_I, &tp(0), 80);
        o.set(SILVER_D, &tp(0), 70);
        o.set(SILVER_I, &tp(0), 60);
        assert_eq!(o.floor(Layer::Bronze, &tp(0)), 80);
        assert_eq!(o.floor(Layer::Silver(0), &tp(0)), 60);
        assert_eq!(o.lowest(&tp(0)), 60);
        assert_eq!(o.lowest(&tp(1)), 0, "a partition no table holds starts at 0");
        o.forget(&tp(0));
        assert_eq!(o.lowest(&tp(0)), 0);
    }

    #[test]
    fn a_table_ahead_of_the_buffer_keeps_its_offsets() {
        // The crash in the field: bronze committed up to 8624, silver only to 5209; the host
        // resumes at 5209 and commits a buffer ending at 6000.
        let mut o = offsets();
        for t in [BRONZE_D, BRONZE_I] {
            o.set(t, &tp(0), 8624);
        }
        for t in [SILVER_D, SILVER_I] {
            o.set(t, &tp(0), 5209);
        }
        let buffer_first = BTreeMap::from([(tp(0), 5209)]);
        let buffer_next = BTreeMap::from([(tp(0), 6000)]);
        assert_eq!(o.lacking(BRONZE_D, &buffer_first, &[]).unwrap().len(), 0);
        let bronze = o.after(BRONZE_D, &buffer_next);
        assert_eq!(bronze, [("posts".to_string(), 0, 8624)], "never lowered");
        assert!(!o.advances(BRONZE_D, &bronze), "nothing to commit to bronze");
        let silver = o.after(SILVER_D, &buffer_next);
        assert_eq!(silver, [("posts".to_string(), 0, 6000)]);
        assert!(o.advances(SILVER_D, &silver));
        o.committed(BRONZE_D, &bronze);
        o.committed(SILVER_D, &silver);
        assert_eq!(o.of(BRONZE_D, &tp(0)), 8624);
        assert_eq!(o.of(SILVER_D, &tp(0)), 6000);
        // A lower offset never takes, whoever reports it.
        o.committed(BRONZE_D, &[("posts".to_string(), 0, 10)]);
        assert_eq!(o.of(BRONZE_D, &tp(0)), 8624);
    }

    #[test]
    fn layer_after_takes_the_highest_format_and_ignores_other_topics() {
        let mut o = offsets();
        o.set(SILVER_D, &tp(1), 40);
        o.set(SILVER_I, &tp(1), 30);
        let after = o.layer_after(Layer::Silver(0), &BTreeMap::from([(tp(1), 35), (tp(2), 5)]));
        assert_eq!(after, [("posts".to_string(), 1, 40), ("posts".to_string(), 2, 5)]);
        o.committed(SILVER_I, &[("~checkpoint".to_string(), 1, 99)]);
        assert_eq!(o.of(SILVER_I, &tp(1)), 30, "another topic's numbers are not offsets");
    }

    /// Two topics with the same partition numbers are apart: floors, what a table lacks, and
    /// the offsets it records.
    #[test]
    fn topics_sharing_partition_numbers_keep_their_own_offsets() {
        let (a, b) = (TopicPartition::new("a", 0), TopicPartition::new("b", 0));
        let mut o = offsets();
        o.set(BRONZE_D, &a, 50);
        o.set(BRONZE_D, &b, 10);
        o.set(BRONZE_I, &a, 20);
        o.set(BRONZE_I, &b, 10);
        assert_eq!((o.floor(Layer::Bronze, &a), o.floor(Layer::Bronze, &b)), (20, 10));
        // A buffer of a/0 from 20 and b/0 from 10: Delta's bronze lacks a/0 from 50 and all of b/0.
        let rows = origins_batch(&[("a", 0, 20), ("a", 0, 49), ("a", 0, 50), ("b", 0, 10), ("b", 0, 11)]);
        let first = BTreeMap::from([(a.clone(), 20), (b.clone(), 10)]);
        let kept = o.lacking(BRONZE_D, &first, std::slice::from_ref(&rows)).unwrap();
        let offsets: Vec<(String, i64)> = kept
            .iter()
            .flat_map(|r| {
                let t = r.column_by_name(ORIGIN_TOPIC).unwrap().as_string::<i32>().clone();
                let o = r
                    .column_by_name(ORIGIN_OFFSET)
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .clone();
                (0..r.num_rows()).map(move |i| (t.value(i).to_string(), o.value(i)))
            })
            .collect();
        assert_eq!(
            offsets,
            [("a".into(), 50), ("b".into(), 10), ("b".into(), 11)],
            "each row judged by its own topic"
        );
        let after = o.after(BRONZE_D, &BTreeMap::from([(a.clone(), 51), (b.clone(), 12)]));
        assert_eq!(after, [("a".to_string(), 0, 51), ("b".to_string(), 0, 12)]);
        o.committed(BRONZE_D, &after);
        assert_eq!((o.of(BRONZE_D, &a), o.of(BRONZE_D, &b)), (51, 12));
        o.forget(&a);
        assert_eq!(
            (o.floor(Layer::Bronze, &a), o.floor(Layer::Bronze, &b)),
            (0, 10),
            "forgetting a/0 keeps b/0"
        );
    }

    /// Rows with only the origin columns.
    fn origins_batch(rows: &[(&str, i32, i64)]) -> RecordBatch {
        use arrow::array::{Int32Array, Int64Array, StringArray};
        use std::sync::Arc;
        let topics: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let partitions: Vec<i32> = rows.iter().map(|r| r.1).collect();
        let offsets: Vec<i64> = rows.iter().map(|r| r.2).collect();
        RecordBatch::try_from_iter([
            (
                ORIGIN_TOPIC,
                Arc::new(StringArray::from(topics)) as arrow::array::ArrayRef,
            ),
            (
                ORIGIN_PARTITION,
                Arc::new(Int32Array::from(partitions)) as arrow::array::ArrayRef,
            ),
            (
                ORIGIN_OFFSET,
                Arc::new(Int64Array::from(offsets)) as arrow::array::ArrayRef,
            ),
        ])
        .unwrap()
    }
}
