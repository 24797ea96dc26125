//! Silver's key set: every key silver holds, with the (topic, partition, offset) its row came from, and
//! the keys of rows buffered for the next commit. A row goes to silver only if its key is in
//! neither; the origin tells a replayed row that silver already has from a duplicate.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use arrow::util::display::array_value_to_string;

use crate::tables::schema::{ORIGIN_OFFSET, ORIGIN_PARTITION, ORIGIN_TOPIC};

/// A key's row: (topic, as its number in [`SilverKeys`]' list, partition, offset). 16 bytes,
/// as many keys are held.
pub type KeyOrigin = (u32, i32, i64);

/// What became of one decoded row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Its key is new: it goes to silver now.
    New,
    /// Silver (or the buffer) already holds its key, from another row.
    Duplicate,
    /// Replayed from below silver's offsets: silver holds this very row.
    AlreadyThere,
    /// Replayed from below silver's offsets, and silver's row for its key came from elsewhere.
    Replayed,
}

impl Admitted {
    /// Whether the row is (or already was) a silver row: what gold counts.
    pub fn in_silver(self) -> bool {
        matches!(self, Admitted::New | Admitted::AlreadyThere)
    }
}

/// Committed and buffered keys of silver.
#[derive(Debug, Default)]
pub struct SilverKeys {
    committed: HashMap<String, KeyOrigin>,
    pending: HashMap<String, KeyOrigin>,
    /// Silver's key columns, by position in its rows.
    columns: Vec<usize>,
    /// The topics origins name, by number.
    topics: Vec<String>,
}

impl SilverKeys {
    /// An empty set over the key `columns` of silver's rows.
    pub fn new(columns: Vec<usize>) -> Self {
        SilverKeys {
            columns,
            ..SilverKeys::default()
        }
    }

    /// Keys silver holds.
    pub fn len(&self) -> usize {
        self.committed.len()
    }

    /// Adds the keys of rows silver holds (read back at start).
    pub fn load(&mut self, batch: &RecordBatch) {
        let keys = self.with_origins(batch);
        self.committed.extend(keys);
    }

    /// The origin of a row from `offset` of `partition` of `topic`.
    pub fn origin(&mut self, topic: &str, partition: i32, offset: i64) -> KeyOrigin {
        let number = match self.topics.iter().position(|t| t == topic) {
            Some(n) => n,
            None => {
                self.topics.push(topic.to_string());
                self.topics.len() - 1
            }
        };
        (u32::try_from(number).unwrap_or(u32::MAX), partition, offset)
    }

    /// The key of `row` of silver-shaped `batch`.
    pub fn key_of(&self, batch: &RecordBatch, row: usize) -> String {
        self.columns
            .iter()
            .map(|&c| array_value_to_string(batch.column(c), row).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }

    /// Decides the row with `key` from `origin`; rows below `floor` (silver's next offset of
    /// their partition) are replays, the others take the key if it is new.
    pub fn admit(&mut self, key: String, origin: KeyOrigin, floor: i64) -> Admitted {
        if origin.2 < floor {
            return match self.committed.get(&key) == Some(&origin) {
                true => Admitted::AlreadyThere,
                false => Admitted::Replayed,
            };
        }
        if self.committed.contains_key(&key) {
            return Admitted::Duplicate;
        }
        match self.pending.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(origin);
                Admitted::New
            }
            Entry::Occupied(_) => Admitted::Duplicate,
        }
    }

    /// The buffered keys are committed.
    pub fn commit(&mut self) {
        self.committed.extend(self.pending.drain());
    }

    /// The buffer changed (partitions revoked): the buffered keys are those of `buffered`.
    pub fn rebuild_pending<'b>(&mut self, buffered: impl IntoIterator<Item = &'b RecordBatch>) {
        self.pending.clear();
        for batch in buffered {
            let keys = self.with_origins(batch);
            self.pending.extend(keys);
        }
    }

    /// Each row's key with its origin (a row without origin columns: partition and offset -1).
    fn with_origins(&mut self, batch: &RecordBatch) -> Vec<(String, KeyOrigin)> {
        let topics = batch
            .column_by_name(ORIGIN_TOPIC)
            .and_then(|t| t.as_string_opt::<i32>());
        let partitions = batch
            .column_by_name(ORIGIN_PARTITION)
            .and_then(|p| p.as_primitive_opt::<Int32Type>());
        let offsets = batch
            .column_by_name(ORIGIN_OFFSET)
            .and_then(|o| o.as_primitive_opt::<Int64Type>());
        let mut out = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let origin = match (topics, partitions, offsets) {
                (Some(t), Some(p), Some(o)) => self.origin(t.value(row), p.value(row), o.value(row)),
                _ => (u32::MAX, -1, -1),
            };
            out.push((self.key_of(batch, row), origin));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_goes_to_silver_once_and_replays_are_told_apart() {
        let mut keys = SilverKeys::new(vec![0]);
        let (p0, p1) = (keys.origin("t", 0, 5), keys.origin("t", 1, 0));
        assert_eq!(keys.admit("a".into(), p0, 0), Admitted::New);
        let next = keys.origin("t", 0, 6);
        assert_eq!(keys.admit("a".into(), next, 0), Admitted::Duplicate, "buffered already");
        keys.commit();
        assert_eq!(keys.admit("a".into(), p1, 0), Admitted::Duplicate, "committed already");
        // Replayed from below silver's floor: the row silver holds, or another with its key.
        assert_eq!(keys.admit("a".into(), p0, 10), Admitted::AlreadyThere);
        assert_eq!(keys.admit("a".into(), next, 10), Admitted::Replayed);
        // The same partition and offset of another topic is another row.
        let other = keys.origin("u", 0, 5);
        assert_ne!(other, p0);
        assert_eq!(keys.admit("a".into(), other, 10), Admitted::Replayed);
        assert!(Admitted::AlreadyThere.in_silver() && !Admitted::Replayed.in_silver());
        assert_eq!(keys.len(), 1);
    }
}
